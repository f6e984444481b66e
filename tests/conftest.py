"""One set of fixtures: a clinic with one member per role, and an outsider from another clinic."""

import copy
import os

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import Clinic, Role
from crm.services import staff_create
from patients import services as patient_services
from patients.clinic_defaults import clinic_setup_defaults

# Playwright's sync API runs an event loop in the test thread; the live server's ORM is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The read replica's alias points at the replica's copy of the test database
    # (tests/replica.py makes it); reads go to it only in the tests that turn REPLICA_READS on.
    if "replica" not in settings.DATABASES:
        import dj_database_url

        from tests.replica import REPLICA_PORT

        url = os.environ.get("TEST_REPLICA_URL", f"postgres://postgres@127.0.0.1:{REPLICA_PORT}/x")
        # Django has filled in the default alias's settings already: the replica takes them,
        # with the replica's address.
        default = settings.DATABASES["default"]
        address = {k: v for k, v in dj_database_url.parse(url).items() if k in ("HOST", "PORT")}
        settings.DATABASES["replica"] = {
            **copy.deepcopy(default),
            **address,
            "TEST": {**default.get("TEST", {}), "MIRROR": "default"},
        }
    settings.REPLICA_READS = False
    # Parallel workers (pytest-xdist, `make test`): pytest-django gives each its own test
    # database; here each gets its own Redis keys, for the cache and the broker.
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:
        redis_key_prefix_apply(f"{settings.REDIS_KEY_PREFIX}{worker}")


def redis_key_prefix_apply(prefix):
    """What REDIS_KEY_PREFIX=`prefix` would have set (crm/settings.py), in this process and,
    through the environment, in the servers and workers that tests start."""
    from django.conf import settings

    from crm.celery import app

    os.environ["REDIS_KEY_PREFIX"] = settings.REDIS_KEY_PREFIX = prefix
    if "KEY_PREFIX" in settings.CACHES["default"]:
        settings.CACHES["default"]["KEY_PREFIX"] = prefix
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        options = {"global_keyprefix": f"{prefix}:"}
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = app.conf.broker_transport_options = options


def pytest_collection_modifyitems(config, items):
    """Every test that drives Chromium is a browser test, marked by its fixtures, so that
    `make test-fast` (-m "not browser and …") leaves out each new one without being told."""
    for item in items:
        if {"page", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


PASSWORD = "test-pass-123"  # 10+ characters of three classes (settings.AUTH_PASSWORD_VALIDATORS)

_django_force_login = Client.force_login


def _force_login_with_second_factor(self, user, backend=None):
    """Django's test client's force_login, and for a user with an authenticator the second
    factor too, as after a real sign-in (tests of the second factor sign in for real)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _django_force_login(self, user, backend)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()


Client.force_login = _force_login_with_second_factor


def second_factor_enrol(user):
    """`user`'s authenticator, enrolled (an admin reaches no page before they have one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def make_clinic(slug, name=None):
    clinic = Clinic.objects.create(slug=slug, name=name or f"诊所{slug.upper()}")
    clinic_setup_defaults(clinic=clinic)
    return clinic


def make_staff(clinic, role, username=None, enrolled=True):
    """A staff member; an admin with their second factor enrolled unless `enrolled=False`."""
    username = username or f"{clinic.slug}-{role}"
    user = staff_create(
        clinic=clinic, username=username, password=PASSWORD, role=role, display_name=username
    ).user
    if role == Role.ADMIN and enrolled:
        second_factor_enrol(user)
    return user


@pytest.fixture
def clinic(db):
    return make_clinic("a", "甲诊所")


@pytest.fixture
def other_clinic(db):
    return make_clinic("b", "乙诊所")


@pytest.fixture
def staff(clinic):
    """One user per role of `clinic`, by role name."""
    return {role.value: make_staff(clinic, role.value) for role in Role}


@pytest.fixture
def admin_user(staff):
    return staff["admin"]


@pytest.fixture
def doctor(staff):
    return staff["doctor"]


@pytest.fixture
def assistant(staff):
    return staff["assistant"]


@pytest.fixture
def nurse(staff):
    return staff["nurse"]


@pytest.fixture
def nurse_ward(clinic, nurse):
    """A ward the `nurse` staffs: a nurse sees only her wards' patients."""
    from patients.models import Ward
    from patients.wards import ward_save

    return ward_save(ward=Ward(clinic=clinic), name="一病区", nurses=[nurse.memberships.get()])


@pytest.fixture
def outsider(other_clinic):
    return make_staff(other_clinic, Role.ASSISTANT, "outsider")


@pytest.fixture
def make_patient(clinic):
    counter = iter(range(10_000))

    def make(name="张三", phone=None, target_clinic=None, **kwargs):
        n = next(counter)
        if phone is None:
            phone = f"1380013{n:04d}"
        return patient_services.patient_create(
            clinic=target_clinic or clinic, name=name, phone=phone, **kwargs
        )

    return make


@pytest.fixture
def api():
    """An API client signed in as `user` (session auth, as the browser uses)."""

    def client_for(user):
        client = APIClient()
        client.force_login(user)
        return client

    return client_for


def tag(clinic, name):
    return clinic.tags.select_related("group").get(name=name)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (never a downloaded browser)."""
    import shutil

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, settings):
    # Playwright's wait_for_function polls with eval(), which our CSP refuses: browser tests add
    # 'unsafe-eval' and nothing else. tests/test_security_browser.py checks the real policy.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["script-src"] = [*policy["DIRECTIVES"]["script-src"], "'unsafe-eval'"]
    settings.CONTENT_SECURITY_POLICY = policy
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 1366, "height": 860}
    )
    page = context.new_page()
    yield page
    # Let the page's last requests (a timeline page, a panel) finish before the test's database
    # is truncated: a request still in its transaction then deadlocks the TRUNCATE. Pages that
    # poll never go idle; they get five seconds.
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.wait_for_load_state("networkidle", timeout=5000)
    except PlaywrightError:
        pass
    context.close()


def screenshot(page, name):
    """Keep a screenshot for a person to look at (test-artifacts/, ignored by git)."""
    from django.conf import settings

    folder = settings.BASE_DIR / "test-artifacts"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def login(page, username, password=PASSWORD):
    """Sign in through the page; a user asked for a second factor enters a recovery code."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    if _needs_second_factor(username, password):
        page.wait_for_url("**/accounts/two-factor/**")
        page.fill("#id_code", recovery_code_for(username))
        page.click("button[type=submit]")


def _needs_second_factor(username, password):
    """Whether this sign-in goes on to the second factor (not with a wrong password)."""
    from django.contrib.auth import get_user_model

    from crm import two_factor

    user = get_user_model().objects.filter(username=username).first()
    return (
        user is not None
        and user.check_password(password)
        and two_factor.required(user)
        and two_factor.is_enrolled(user)
    )


def recovery_code_for(username):
    """A fresh recovery code of an enrolled user (as if they had kept their printed codes)."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    user = get_user_model().objects.get(username=username)
    device, _ = StaticDevice.objects.get_or_create(user=user, name="recovery")
    return StaticToken.objects.create(device=device, token=StaticToken.random_token()).token


@pytest.fixture(scope="session")
def fake_wecom_server():
    """Our fake WeCom, a real HTTP server on a free port, for the whole session."""
    from wechat.fake import serve_in_thread

    fake, server, base_url = serve_in_thread()
    yield fake, base_url
    server.shutdown()


@pytest.fixture
def fake_wecom(fake_wecom_server, settings):
    """The fake, reset, with CareLoop pointed at it and a fresh token cache."""
    from django.core.cache import cache

    fake, base_url = fake_wecom_server
    fake.reset()
    cache.clear()
    settings.WECOM_API_BASE_URL = base_url
    return fake


@pytest.fixture
def wecom_account(clinic, fake_wecom):
    from wechat.services import wecom_account_configure

    return wecom_account_configure(
        clinic=clinic,
        corp_id="ww-test-corp",
        agent_id="1000002",
        secret="test-secret",
        robot_key="robot-key-a",
    )


# WeCom callbacks --------------------------------------------------------------------------

CORP_ID = "ww-test-corp"
CALLBACK_TOKEN = "cb-token-a"
# 43 characters of base64 that decode to a 32-byte key, as WeCom generates them.
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def callback_account(clinic, fake_wecom):
    """Clinic A's WeCom account with callback keys; the fake knows them too (as WeCom does
    once an admin pasted them into its console). Tests with a live server set the URL."""
    from wechat.services import wecom_account_configure

    account = wecom_account_configure(
        clinic=clinic,
        corp_id=CORP_ID,
        agent_id="1000002",
        secret="test-secret",
        callback_token=CALLBACK_TOKEN,
        encoding_aes_key=AES_KEY,
    )
    fake_wecom.register_app(
        corp_id=CORP_ID,
        callback_url="http://testserver/wechat/callback/a/",
        token=CALLBACK_TOKEN,
        aes_key=AES_KEY,
    )
    return account


@pytest.fixture
def wecom_staff(staff):
    """The assistant and the doctor carry their WeCom userids."""
    from crm.models import Membership

    for role in ("assistant", "doctor"):
        Membership.objects.filter(user=staff[role]).update(wecom_userid=f"wx-{role}")
    return {role: Membership.objects.get(user=staff[role]) for role in ("assistant", "doctor")}


def process_pending():
    """What the worker does after the callback commits: process stored events, then send
    the deliveries they enqueued. Runs the task functions in-process."""
    from wechat.models import CallbackEvent, CallbackStatus
    from wechat.outbox import deliveries_due_ids
    from wechat.tasks import callback_process_task, delivery_send_task

    pending = CallbackEvent.objects.filter(status=CallbackStatus.PENDING).values_list(
        "pk", flat=True
    )
    results = [callback_process_task(pk) for pk in list(pending)]
    for delivery_id in deliveries_due_ids():
        delivery_send_task(delivery_id)
    return results


def survey_form(survey, score=None, comment=None, **by_position) -> dict:
    """The public answer page's POST data: `score` for the survey's first score question,
    `comment` for its first text question, `q<position>=value` for any question."""
    questions = list(survey.questions.order_by("position"))
    data = {}
    first_score = next((q for q in questions if q.kind == "score"), None)
    first_text = next((q for q in questions if q.kind == "text"), None)
    if score is not None and first_score is not None:
        data[f"q{first_score.pk}"] = str(score)
    if comment is not None and first_text is not None:
        data[f"q{first_text.pk}"] = comment
    for key, value in by_position.items():
        question = questions[int(key.lstrip("q")) - 1]
        data[f"q{question.pk}"] = value
    return data
