"""A fake WeCom: a real HTTP server that speaks the WeCom API endpoints CareLoop calls.

For development, tests and demos. CareLoop reaches it only through WECOM_API_BASE_URL.
It keeps what it received for inspection (GET /_fake/state) and has fault switches
(POST /_fake/faults). Run it with `python manage.py fakewecom`.
"""

from wechat.fake.server import FakeWeCom, serve_in_thread

__all__ = ["FakeWeCom", "serve_in_thread"]
