"""Tests of hello-flask with Flask's test client: `python3 -m unittest`."""

import os
import subprocess
import sys
import unittest

from app import app, listen_address

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class AppTest(unittest.TestCase):
    def setUp(self):
        self.client = app.test_client()

    def get(self, path, remote="127.0.0.1", **kw):
        return self.client.get(path, environ_base={"REMOTE_ADDR": remote}, **kw)

    def test_home_page(self):
        resp = self.get("/", remote="203.0.113.7")
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.mimetype, "text/html")
        self.assertIn("Accept", resp.headers.get("Vary", ""))
        body = resp.get_data(as_text=True)
        self.assertIn("<h1>Hello, World!</h1>", body)
        self.assertIn('<span class="addr" id="client">203.0.113.7</span>', body)
        self.assertIn("no proxy in front", body)

    def test_plain_text_as_in_the_article(self):
        for accept, mimetype in [
            ("text/plain", "text/plain"),
            ("text/plain, text/html;q=0.5", "text/plain"),
            ("*/*", "text/html"),
            ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ]:
            with self.subTest(accept=accept):
                resp = self.get("/", headers={"Accept": accept})
                self.assertEqual(resp.status_code, 200)
                self.assertEqual(resp.mimetype, mimetype)
                if mimetype == "text/plain":
                    self.assertEqual(resp.get_data(as_text=True), "Hello, World!")

    def test_client_address_trusts_one_proxy(self):
        for name, forwarded_for, want in [
            ("through the proxy", "203.0.113.9", "203.0.113.9"),
            ("client-sent entry ahead of the proxy's", "10.0.0.1, 203.0.113.9", "203.0.113.9"),
            ("IPv6 client", "2001:db8::1", "2001:db8::1"),
        ]:
            with self.subTest(name):
                body = self.get("/", headers={"X-Forwarded-For": forwarded_for}).get_data(as_text=True)
                self.assertIn('id="client">%s</span>' % want, body)
                self.assertIn("X-Forwarded-For", body)
        # X-Real-IP is nginx's header for logs; the app reads X-Forwarded-For only.
        body = self.get("/", remote="198.51.100.4", headers={"X-Real-IP": "10.0.0.1"}).get_data(as_text=True)
        self.assertIn('id="client">198.51.100.4</span>', body)

    def test_scheme_from_the_proxy(self):
        body = self.get("/", headers={"Host": "hello.example.org", "X-Forwarded-Proto": "https"}).get_data(as_text=True)
        self.assertIn('id="url">https://hello.example.org/</span>', body)

    def test_forwarded_host_is_not_trusted(self):
        # nginx passes a client's X-Forwarded-Host on unchanged; Host is nginx's own.
        body = self.get("/", headers={"Host": "hello.example.org", "X-Forwarded-Host": "evil.example"}).get_data(as_text=True)
        self.assertIn('id="url">http://hello.example.org/</span>', body)
        self.assertNotIn("evil.example", body)

    def test_healthz(self):
        resp = self.get("/healthz")
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.mimetype, "text/plain")
        self.assertEqual(resp.get_data(as_text=True), "ok\n")

    def test_not_found(self):
        for path in ["/nope", "/app.py", "/templates/index.html", "/static/", "/static/style.css"]:
            with self.subTest(path=path):
                self.assertEqual(self.get(path).status_code, 404)

    def test_listen_address(self):
        for environ, want in [
            ({}, ("127.0.0.1", 5001)),
            ({"HOST": "", "PORT": ""}, ("127.0.0.1", 5001)),
            ({"PORT": "9000"}, ("127.0.0.1", 9000)),
            ({"HOST": "::1", "PORT": "81"}, ("::1", 81)),
        ]:
            with self.subTest(environ=environ):
                self.assertEqual(listen_address(environ), want)
        for port in ["http", "0", "65536", "-1", "80.5"]:
            with self.subTest(port=port):
                with self.assertRaises(SystemExit) as cm:
                    listen_address({"PORT": port})
                self.assertIn("PORT=%s is not a port" % port, str(cm.exception))

    def test_production_never_debugs(self):
        # FLASK_DEBUG=1 turns debug on for the app, but not under gunicorn's wsgi.py.
        code = "import app; d = app.app.debug; import wsgi; print(d, wsgi.app.debug)"
        env = dict(os.environ, FLASK_DEBUG="1")
        out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        self.assertEqual(out.split(), ["True", "False"])


if __name__ == "__main__":
    unittest.main()
