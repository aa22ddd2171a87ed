"""A Hugging Face Hub stand-in on 127.0.0.1: just the HTTP calls huggingface_hub 2.x makes to push and pull a model.

Point ``HF_ENDPOINT`` at :attr:`HubServer.url` (with ``HF_HUB_DISABLE_XET=1`` and any ``HF_TOKEN``) and the real
client code runs against it: ``create_repo``, ``upload_folder`` / ``push_to_hub`` (preupload, then one commit whose
NDJSON lines carry every file base64-encoded), ``from_pretrained("user/name")`` (revision info, then HEAD/GET
``resolve``), ``ModelCard.push_to_hub`` (validate-yaml). Repositories live in memory; each commit gets a new sha.

Example::

    >>> with HubServer() as hub:                      # doctest: +SKIP
    ...     env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_fake"}
    ...     subprocess.run([sys.executable, "push.py"], env=env, check=True)
    ...     sorted(hub.repos["user/tiny"])
    ['README.md', 'config.json', 'model.safetensors', ...]

Which calls, which headers and which answers: /work/shared/FACTS.md ("Hub without the internet") and the client in
huggingface_hub (``file_download.get_hf_file_metadata``, ``_commit_api``, ``utils/_http.hf_raise_for_status``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

USER = "user"
REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = {
    ("POST", re.compile(r"^/api/repos/create$")): "create_repo",
    ("GET", re.compile(r"^/api/whoami-v2$")): "whoami",
    ("POST", re.compile(r"^/api/validate-yaml$")): "validate_yaml",
    ("GET", re.compile(rf"^/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?$")): "model_info",
    ("GET", re.compile(rf"^/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<folder>.+))?$")): "tree",
    ("POST", re.compile(rf"^/api/models/{REPO}/preupload/(?P<rev>[^/]+)$")): "preupload",
    ("POST", re.compile(rf"^/api/models/{REPO}/commit/(?P<rev>[^/]+)$")): "commit",
    ("GET", re.compile(rf"^/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")): "resolve",
    ("HEAD", re.compile(rf"^/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")): "resolve",
}


class HubServer:
    """An in-memory Hub on a free port of 127.0.0.1, served from a background thread while the ``with`` block runs.

    ``repos`` maps ``"user/name"`` to ``{path: bytes}`` of the latest commit; ``calls`` lists ``"METHOD path"`` of
    every request, so a test can check that a pull went through the server.
    """

    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: dict[str, list[str]] = {}  # repo -> commit shas, oldest first
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                self._dispatch("GET")

            def do_HEAD(self):
                self._dispatch("HEAD")

            def do_POST(self):
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                path = unquote(urlsplit(self.path).path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with hub._lock:
                    hub.calls.append(f"{method} {path}")
                for (route_method, pattern), name in ROUTES.items():
                    match = pattern.match(path)
                    if route_method == method and match:
                        getattr(hub, name)(self, body=body, **match.groupdict())
                        return
                hub.send(self, 404, {"error": f"hub_server does not implement {method} {path}"})

        return Handler

    # ---------------------------------------------------------------------------------------------------- replies
    @staticmethod
    def send(handler, status: int, payload=None, headers: dict[str, str] | None = None, raw: bytes | None = None,
             head_only: bool = False) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head_only:
            handler.wfile.write(data)

    def _missing_repo(self, handler, repo: str, head_only: bool = False) -> bool:
        if repo in self.repos:
            return False
        self.send(handler, 404, {"error": f"Repository {repo} not found"}, {"X-Error-Code": "RepoNotFound"},
                  head_only=head_only)
        return True

    def _sha(self, repo: str, rev: str | None, handler, head_only: bool = False) -> str | None:
        commits = self.commits[repo]
        if rev in (None, "main") and commits:
            return commits[-1]
        if rev in commits:
            return rev
        self.send(handler, 404, {"error": f"Revision {rev} not found"}, {"X-Error-Code": "RevisionNotFound"},
                  head_only=head_only)
        return None

    # --------------------------------------------------------------------------------------------------- routes
    def create_repo(self, handler, body: bytes, **_) -> None:
        request = json.loads(body or b"{}")
        name = request["name"]
        repo = f"{request.get('organization') or USER}/{name}" if "/" not in name else name
        with self._lock:
            if repo not in self.repos:
                self.repos[repo] = {}
                self.commits[repo] = [hashlib.sha1(repo.encode()).hexdigest()]  # the initial, empty commit
        # The client checks that the returned url lives under HF_ENDPOINT.
        self.send(handler, 200, {"url": f"{self.url}/{repo}", "name": repo})

    def whoami(self, handler, **_) -> None:
        self.send(handler, 200, {"type": "user", "name": USER, "auth": {"accessToken": {"role": "write"}}})

    def validate_yaml(self, handler, **_) -> None:
        self.send(handler, 200, {"errors": [], "warnings": []})

    def model_info(self, handler, repo: str, rev: str | None = None, **_) -> None:
        if self._missing_repo(handler, repo):
            return
        sha = self._sha(repo, rev, handler)
        if sha is None:
            return
        files = self.repos[repo]
        self.send(handler, 200, {
            "id": repo, "modelId": repo, "sha": sha, "private": False, "tags": [], "library_name": "transformers",
            "siblings": [{"rfilename": path, "size": len(data)} for path, data in sorted(files.items())],
        })

    def tree(self, handler, repo: str, rev: str, folder: str | None = None, **_) -> None:
        if self._missing_repo(handler, repo) or self._sha(repo, rev, handler) is None:
            return
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        files = [(path, data) for path, data in sorted(self.repos[repo].items()) if path.startswith(prefix)]
        if prefix and not files:
            self.send(handler, 404, {"error": f"{folder} not found"}, {"X-Error-Code": "EntryNotFound"})
            return
        # Recursive listing: good enough for the clients' "which files are there" questions.
        self.send(handler, 200, [
            {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
            for path, data in files
        ])

    def preupload(self, handler, repo: str, body: bytes, **_) -> None:
        if self._missing_repo(handler, repo):
            return
        files = json.loads(body)["files"]
        # "regular" makes the client send every file inline in the commit: no LFS or Xet storage to emulate.
        self.send(handler, 200, {"files": [
            {"path": file["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for file in files
        ]})

    def commit(self, handler, repo: str, body: bytes, **_) -> None:
        if self._missing_repo(handler, repo):
            return
        with self._lock:
            files = dict(self.repos[repo])
            for line in body.decode().splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                value = entry["value"]
                if entry["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif entry["key"] == "deletedFile":
                    files.pop(value["path"], None)
                elif entry["key"] == "deletedFolder":
                    files = {p: d for p, d in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
                elif entry["key"] != "header":
                    self.send(handler, 400, {"error": f"hub_server cannot commit a {entry['key']!r} entry"})
                    return
            sha = hashlib.sha1(repr(sorted((p, hashlib.sha1(d).hexdigest()) for p, d in files.items())).encode()
                               + self.commits[repo][-1].encode()).hexdigest()
            self.repos[repo] = files
            self.commits[repo].append(sha)
        self.send(handler, 200, {"commitUrl": f"{self.url}/{repo}/commit/{sha}", "commitOid": sha,
                                 "pullRequestUrl": None})

    def resolve(self, handler, repo: str, rev: str, path: str, **_) -> None:
        head_only = handler.command == "HEAD"
        if self._missing_repo(handler, repo, head_only):
            return
        sha = self._sha(repo, rev, handler, head_only)
        if sha is None:
            return
        # Files are served from the latest commit; tests never read an older revision.
        data = self.repos[repo].get(path)
        if data is None:
            self.send(handler, 404, {"error": f"{path} not found"}, {"X-Error-Code": "EntryNotFound"},
                      head_only=head_only)
            return
        headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": sha}
        self.send(handler, 200, headers=headers, raw=data, head_only=head_only)
