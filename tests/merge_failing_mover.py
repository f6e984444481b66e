"""A patient-merge mover that fails (tests/test_patients_merge.py): the merge must undo the
moves made before it."""


def merge_counts(patient) -> dict:
    return {}


def merge_move(*, survivor, duplicate) -> dict[str, int]:
    raise RuntimeError("a mover failed")
