"""The import of existing patients: the batch (`models`), reading .xlsx/.csv (`files`), mapping and
the dry run (`services`), the all-or-nothing commit run by a worker (`commit`), and the pages
(`views`)."""
