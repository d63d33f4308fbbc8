"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for upload tests that never reach the internet.

It answers the endpoints `HfApi.create_repo`, `create_branch` and `upload_folder` call (validate-yaml, preupload,
commit) the way the Hub does, and keeps what was committed in memory. Every file is declared "regular" at preupload,
so the real client sends the contents inline in the commit (base64 in NDJSON) instead of through the LFS/Xet
storage, which a stand-in cannot provide; everything up to the HTTP boundary is the real `huggingface_hub` code.
"""

import base64
import contextlib
import http.server
import json
import os
import re
import threading

import huggingface_hub.constants


class FakeHub:
    def __init__(self):
        self.repos = {}  # repo_id -> {"private": ..., "branches": {branch: {path: bytes}}}
        self.requests = []  # (method, path, authorization header)
        self.validated_readmes = []
        self.url = None
        self._server = None
        self._thread = None

    # ----- server -----
    def start(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                hub.requests.append(("POST", self.path, self.headers.get("Authorization")))
                status, payload = hub.handle(self.path.split("?")[0], body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = lambda self: self._unexpected()  # noqa: E731

            def _unexpected(self):
                hub.requests.append((self.command, self.path, self.headers.get("Authorization")))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    @contextlib.contextmanager
    def as_default_endpoint(self):
        """While active, `HfApi()` without `endpoint=` talks to this server (as HF_ENDPOINT would), online."""
        saved = huggingface_hub.constants.ENDPOINT, huggingface_hub.constants.HF_HUB_OFFLINE
        saved_environment = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
        huggingface_hub.constants.ENDPOINT, huggingface_hub.constants.HF_HUB_OFFLINE = self.url, False
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
        try:
            yield self
        finally:
            huggingface_hub.constants.ENDPOINT, huggingface_hub.constants.HF_HUB_OFFLINE = saved
            for name, value in saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # ----- the Hub's answers -----
    def files(self, repo_id, branch="main"):
        return self.repos[repo_id]["branches"][branch]

    def handle(self, path, body):
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}" if request.get("organization") else \
                f"fake-user/{request['name']}"
            self.repos.setdefault(repo_id, {"private": request.get("visibility") == "private",
                                            "branches": {"main": {}}})
            return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}
        if path == "/api/validate-yaml":
            self.validated_readmes.append(json.loads(body)["content"])
            return 200, {"warnings": []}
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)", path)
        if not match or match.group(1) not in self.repos:
            return 404, {"error": f"Repository not found: {path}"}
        repo_id, action, revision = match.groups()
        branches = self.repos[repo_id]["branches"]
        if action == "branch":
            branches.setdefault(revision, dict(branches["main"]))
            return 200, {}
        if revision not in branches:
            return 404, {"error": f"Revision not found: {revision}"}
        if action == "preupload":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        for line in lines:
            if line["key"] == "file":
                value = line["value"]
                assert value["encoding"] == "base64"
                branches[revision][value["path"]] = base64.b64decode(value["content"])
            elif line["key"] != "header":
                return 400, {"error": f"The stand-in accepts inline files only, got {line['key']}"}
        oid = f"{len(self.requests):040x}"
        return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "success": True}
