#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests/hub (python3 stdlib only).

Serves repositories from folders, speaking the part of the Hub's protocol huggingface_hub and
Tunebench use:

  GET  /api/{models|datasets}/{repo}/revision/{rev}[?blobs=true]
       {"sha", "gated", "private", "siblings": [{"rfilename"[, "size", "blobId", "lfs"]}]}
  HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path}
       regular file: 200, ETag "<git blob sha1>", X-Repo-Commit, Content-Length, the bytes
       LFS file:     302 to an absolute http://127.0.0.1:PORT/cdn/<sha256>, with
                     X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
  GET  /cdn/<sha256>   the LFS object; Range: bytes=N- / N-M answered with 206 (416 past the end)

Repositories (each folder is one commit, in order; "main" is the last, "r1", "r2", ... each one):
  --model ORG/NAME=DIR[,DIR2...]   --dataset ORG/NAME=DIR[,...]
  --gated ORG/NAME                 resolve needs "Authorization: Bearer <--token>": 401 without
                                   a token, 403 with another one (X-Error-Code: GatedRepo)
  --lfs-threshold BYTES            files this large (and *.safetensors, *.bin, ...) are LFS
  --rename OLD=NEW                 a renamed repository (either kind): the info endpoint of OLD
                                   answers 301, its resolve URLs 307, each with a relative
                                   Location naming NEW, as the Hub does after a rename
Unknown repository / revision / file: 404 with X-Error-Code RepoNotFound / RevisionNotFound /
EntryNotFound.

Prints the port (bound to 127.0.0.1, port 0 unless --port) on the first line of stdout, then
reads commands from stdin, one JSON object per line, and answers each with one JSON line:
  {"cmd": "stats"}   -> {"requests": [{"method", "path", "range", "status", "sent", "auth"}]}
                        ("auth": whether an Authorization header came; never its value)
  {"cmd": "reset"}   -> clears the request log and every fault
  {"cmd": "fault", "path": "model.safetensors", "times": K, and one of:
       "drop_after": N      send N bytes of the body, then close the connection
       "corrupt": true      flip one byte in the middle of the body
       "rate": B            send at most B bytes per second
       "status": S          answer S (e.g. 503) instead, with X-Error-Message (416 also
                            with "Content-Range: bytes */SIZE", as a real server sends it)
       "ignore_range": true answer 200 with the whole file to a Range request
       "stall_after": N     send N bytes of the body, then nothing (the connection stays
                            open) for "stall_seconds" (default 60), then close it}
     applies to the next K GETs of that file (through resolve or the CDN); K = -1: all.
  {"cmd": "fault", "path": "config.json", "times": K, "commit": SHA}
     the next K resolve answers (HEAD or GET) for that file carry X-Repo-Commit: SHA instead
     of the commit asked for, as a mirror that ignores the commit in the URL would.
Stdin closing ends the server, so it never outlives the test that started it.
"""

import argparse
import hashlib
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".onnx", ".msgpack")


class Blob:
    def __init__(self, path, rel, lfs_threshold):
        self.path = path
        self.rel = rel
        self.size = os.path.getsize(path)
        sha1 = hashlib.sha1(b"blob %d\0" % self.size)
        sha256 = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                piece = f.read(1 << 20)
                if not piece:
                    break
                sha1.update(piece)
                sha256.update(piece)
        self.git_sha1 = sha1.hexdigest()
        self.sha256 = sha256.hexdigest()
        self.lfs = self.size >= lfs_threshold or rel.endswith(LFS_SUFFIXES)
        pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (self.sha256, self.size)
        self.pointer_size = len(pointer)
        self.pointer_sha1 = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer.encode()).hexdigest()

    def etag(self):
        return self.sha256 if self.lfs else self.git_sha1


class Repo:
    def __init__(self, repo_id, kind, folders, lfs_threshold):
        self.repo_id = repo_id
        self.kind = kind
        self.gated = False
        self.commits = []  # [(sha, {rel: Blob})]
        for index, folder in enumerate(folders):
            files = {}
            for root, _, names in os.walk(folder):
                for name in sorted(names):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, folder).replace(os.sep, "/")
                    files[rel] = Blob(full, rel, lfs_threshold)
            listing = "".join("%s %s\n" % (rel, files[rel].etag()) for rel in sorted(files))
            sha = hashlib.sha1(("commit %s %d\n%s" % (repo_id, index, listing)).encode()).hexdigest()
            self.commits.append((sha, files))

    def resolve(self, revision):
        if revision == "main":
            return self.commits[-1]
        for index, (sha, files) in enumerate(self.commits):
            if revision in (sha, "r%d" % (index + 1)):
                return sha, files
        return None


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.repos = {}  # (kind, id) -> Repo
        self.renamed = {}  # old id -> new id
        self.cdn = {}  # sha256 -> Blob
        self.token = None
        self.requests = []
        self.faults = []

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)

    def take_fault(self, rel, commit_fault=False):
        """The first fault for this file that still has uses, with one use taken: a body
        fault, or (commit_fault) one that changes X-Repo-Commit."""
        with self.lock:
            for fault in self.faults:
                if fault["path"] == rel and fault["times"] != 0 and ("commit" in fault) == commit_fault:
                    if fault["times"] > 0:
                        fault["times"] -= 1
                    return dict(fault)
        return None


STATE = State()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    def log_message(self, *args):  # quiet: stdout is the control channel, stderr stays readable
        pass

    def handle(self):
        # A client that aborts a transfer (cancel, a failure elsewhere stopping the other files,
        # a stall timeout) resets the connection: the next keep-alive read must not print a
        # traceback, which the tests count as a server bug.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- helpers ---------------------------------------------------------------------------
    def _record(self, status, sent):
        # The entry was logged when the request came in (so a client that has its answer never
        # races the log); the outcome is filled in here.
        self.entry["status"] = status
        self.entry["sent"] = sent

    def _answer(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._record(status, len(body) if self.command != "HEAD" else 0)

    def _error(self, status, code, message):
        self._answer(status, json.dumps({"error": message}).encode(), {"X-Error-Code": code, "X-Error-Message": message})

    def _find_repo(self, kind, repo_id):
        return STATE.repos.get((kind, repo_id))

    # -- routes ----------------------------------------------------------------------------
    def do_HEAD(self):
        self._route()

    def do_GET(self):
        self._route()

    def _route(self):
        self.entry = {
            "method": self.command,
            "path": urllib.parse.urlsplit(self.path).path,
            "range": self.headers.get("Range"),
            "status": None,
            "sent": 0,
            "auth": self.headers.get("Authorization") is not None,
        }
        STATE.log(self.entry)
        try:
            parts = urllib.parse.urlsplit(self.path)
            path = parts.path
            if path.startswith("/api/"):
                return self._info(path, urllib.parse.parse_qs(parts.query))
            if path.startswith("/cdn/"):
                blob = STATE.cdn.get(path[len("/cdn/"):])
                if blob is None:
                    return self._error(404, "EntryNotFound", "no such object")
                return self._send_file(blob, {"ETag": '"%s"' % blob.sha256})
            if "/resolve/" in path:
                return self._resolve(path)
            self._error(404, "RepoNotFound", "not found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _info(self, path, query):
        rest = path[len("/api/"):]
        kind, _, rest = rest.partition("/")
        kind = {"models": "model", "datasets": "dataset"}.get(kind)
        repo_id, sep, revision = rest.partition("/revision/")
        if repo_id in STATE.renamed:
            location = path.replace("/" + repo_id, "/" + STATE.renamed[repo_id], 1)
            if query:
                location += "?" + urllib.parse.urlencode(query, doseq=True)
            return self._answer(301, b"", {"Location": location}, "text/plain")
        revision = urllib.parse.unquote(revision) if sep else "main"
        repo = self._find_repo(kind, repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        resolved = repo.resolve(revision)
        if resolved is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id: %s" % revision)
        sha, files = resolved
        blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for rel in sorted(files):
            entry = {"rfilename": rel}
            if blobs:
                b = files[rel]
                entry["size"] = b.size
                entry["blobId"] = b.pointer_sha1 if b.lfs else b.git_sha1
                if b.lfs:
                    entry["lfs"] = {"sha256": b.sha256, "size": b.size, "pointerSize": b.pointer_size}
            siblings.append(entry)
        body = {"id": repo.repo_id, "sha": sha, "private": False, "gated": "manual" if repo.gated else False,
                "siblings": siblings}
        self._answer(200, json.dumps(body).encode())

    def _resolve(self, path):
        head, _, tail = path[1:].partition("/resolve/")
        kind = "model"
        if head.startswith("datasets/"):
            kind, head = "dataset", head[len("datasets/"):]
        if head in STATE.renamed:  # relative, as the Hub answers: the client keeps its host
            return self._answer(307, b"", {"Location": path.replace("/" + head + "/resolve/", "/" + STATE.renamed[head] + "/resolve/", 1)},
                                "text/plain")
        repo = self._find_repo(kind, head)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        revision, _, rel = tail.partition("/")
        revision, rel = urllib.parse.unquote(revision), urllib.parse.unquote(rel)
        if repo.gated:
            auth = self.headers.get("Authorization")
            if auth is None:
                return self._error(401, "GatedRepo", "Access to model %s is restricted. You must be authenticated to access it." % repo.repo_id)
            if auth != "Bearer %s" % STATE.token:
                # Echoes what it got, as a careless server might: the client must redact it.
                return self._error(403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized list "
                                   "(credentials: %s)" % (repo.repo_id, auth))
        resolved = repo.resolve(revision)
        if resolved is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id: %s" % revision)
        sha, files = resolved
        blob = files.get(rel)
        if blob is None:
            return self._error(404, "EntryNotFound", "%s does not exist at %s" % (rel, revision))
        commit_fault = STATE.take_fault(rel, commit_fault=True)
        if commit_fault:
            sha = commit_fault["commit"]
        if blob.lfs:
            STATE.cdn[blob.sha256] = blob
            host, port = self.server.server_address[:2]
            return self._answer(302, b"", {
                "Location": "http://%s:%d/cdn/%s" % (host, port, blob.sha256),
                "X-Repo-Commit": sha,
                "X-Linked-Etag": '"%s"' % blob.sha256,
                "X-Linked-Size": str(blob.size),
                "ETag": '"%s"' % blob.pointer_sha1,
            }, "text/plain")
        self._send_file(blob, {"ETag": '"%s"' % blob.git_sha1, "X-Repo-Commit": sha})

    def _send_file(self, blob, headers):
        fault = STATE.take_fault(blob.rel) if self.command == "GET" else None
        if fault and "status" in fault:
            if fault["status"] == 416:
                return self._answer(416, b"", {"Content-Range": "bytes */%d" % blob.size, "X-Error-Message": "injected 416"})
            return self._error(fault["status"], "Fault", "injected failure %d" % fault["status"])
        start, end = 0, blob.size - 1
        status = 200
        wanted = self.headers.get("Range")
        if wanted and not (fault and fault.get("ignore_range")):
            first, _, last = wanted.replace("bytes=", "").partition("-")
            start = int(first)
            end = min(int(last), blob.size - 1) if last else blob.size - 1
            if start >= blob.size:
                return self._answer(416, b"", {"Content-Range": "bytes */%d" % blob.size})
            status = 206
        length = end - start + 1
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, blob.size))
        self.end_headers()
        if self.command == "HEAD":
            return self._record(status, 0)
        sent = 0
        with open(blob.path, "rb") as f:
            if not fault:
                # The fast path: the kernel copies file to socket, so a benchmark measures the client.
                while sent < length:
                    n = os.sendfile(self.connection.fileno(), f.fileno(), start + sent, length - sent)
                    if n == 0:
                        break
                    sent += n
                return self._record(status, sent)
            f.seek(start)
            limit = fault.get("drop_after", fault.get("stall_after", length))
            rate = fault.get("rate")
            flip_at = length // 2 if fault.get("corrupt") else -1
            piece_size = max(1024, min(65536, rate // 10)) if rate else 65536
            while sent < min(length, limit):
                piece = bytearray(f.read(min(piece_size, min(length, limit) - sent)))
                if not piece:
                    break
                if sent <= flip_at < sent + len(piece):
                    piece[flip_at - sent] ^= 0xFF
                if rate:  # paced before each piece, so even a small file takes size / rate
                    time.sleep(len(piece) / float(rate))
                self.wfile.write(piece)
                sent += len(piece)
            self._record(status, sent)
            if sent < length and "stall_after" in fault:
                self.wfile.flush()
                until = time.time() + fault.get("stall_seconds", 60)
                while time.time() < until:  # silent, the connection open: a stalled transfer
                    time.sleep(0.05)
            if sent < length:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)  # mid-file: the client sees a short body
                except OSError:
                    pass  # the client has gone already (a stall it gave up on)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def control_loop(server):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            command = json.loads(line)
            cmd = command.get("cmd")
            if cmd == "stats":
                with STATE.lock:
                    reply = {"requests": list(STATE.requests)}
            elif cmd == "reset":
                with STATE.lock:
                    STATE.requests.clear()
                    STATE.faults.clear()
                reply = {"ok": True}
            elif cmd == "fault":
                command.setdefault("times", 1)
                with STATE.lock:
                    STATE.faults.append(command)
                reply = {"ok": True}
            else:
                reply = {"error": "unknown command %r" % cmd}
        except ValueError as e:
            reply = {"error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="ID=DIR[,DIR...]")
    parser.add_argument("--dataset", action="append", default=[], metavar="ID=DIR[,DIR...]")
    parser.add_argument("--gated", action="append", default=[], metavar="ID")
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--token", default="hf_fake_token_for_tests")
    parser.add_argument("--lfs-threshold", type=int, default=64 * 1024)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    STATE.token = args.token
    for kind, specs in (("model", args.model), ("dataset", args.dataset)):
        for spec in specs:
            repo_id, _, folders = spec.partition("=")
            repo = Repo(repo_id, kind, folders.split(","), args.lfs_threshold)
            STATE.repos[(kind, repo_id)] = repo
            for _, files in repo.commits:
                for blob in files.values():
                    if blob.lfs:
                        STATE.cdn[blob.sha256] = blob
    for spec in args.rename:
        old, _, new = spec.partition("=")
        STATE.renamed[old] = new
    for repo_id in args.gated:
        for kind in ("model", "dataset"):
            if (kind, repo_id) in STATE.repos:
                STATE.repos[(kind, repo_id)].gated = True

    server = Server(("127.0.0.1", args.port), Handler)  # loopback only, never another interface
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()
    threading.Thread(target=control_loop, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
