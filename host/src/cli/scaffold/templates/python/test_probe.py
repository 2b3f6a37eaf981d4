"""Unit tests, natively: `python3 -m unittest` (no WebAssembly needed;
`assay.http` uses urllib here, the host's wasi:http in the component)."""

import http.server
import threading
import unittest

import assay_plugin as assay

import plugin


def serve(status: int) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


class Probe(unittest.TestCase):
    def test_a_2xx_passes_and_a_5xx_fails(self):
        for status, expected in [(200, assay.Status.PASS), (503, assay.Status.FAIL)]:
            server, url = serve(status)
            try:
                self.assertEqual(plugin.probe({"url": url}).status, expected)
            finally:
                server.shutdown()

    def test_nothing_listening_fails(self):
        self.assertEqual(plugin.probe({"url": "http://127.0.0.1:9/"}).status, assay.Status.FAIL)

    def test_bad_config(self):
        with self.assertRaises(assay.PluginError):
            plugin.probe({})


if __name__ == "__main__":
    unittest.main()
