import time

from django.core.management.base import BaseCommand

from wechat.fake import serve_in_thread


class Command(BaseCommand):
    help = "Run the fake WeCom server (development, tests, demo). Point WECOM_API_BASE_URL at it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)

    def handle(self, *args, host, port, **options):
        _fake, server, base_url = serve_in_thread(host=host, port=port)
        self.stdout.write(f"Fake WeCom listening; set WECOM_API_BASE_URL={base_url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
