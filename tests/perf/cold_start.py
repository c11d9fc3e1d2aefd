#!/usr/bin/env python3
"""Cold start of a Lambda bootstrap, measured against a stand-in Lambda Runtime API on loopback.

Starts the binary as Lambda would (AWS_LAMBDA_RUNTIME_API and the function's environment),
serves it one event, and reports the time from process start to the response arriving, and the
process's peak resident memory (VmHWM) after answering. Repeats N times; prints the median.

    python3 tests/perf/cold_start.py target/release/triage tests/fixtures/events/logs-invalid-credentials.json [N]
"""
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def measure(binary, event, timeout=10.0):
    answered = threading.Event()
    finished = threading.Event()
    result = {}

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        served = False

        def log_message(self, *args):
            pass

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                self.send_error(404)
                return
            if RuntimeApi.served:
                # Hold the second poll open until the process is killed; nothing to answer.
                finished.wait(timeout)
                self.close_connection = True
                return
            RuntimeApi.served = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:eu-west-1:123456789012:function:triage")
            self.send_header("Content-Length", str(len(event)))
            self.end_headers()
            self.wfile.write(event)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            result["elapsed"] = time.perf_counter() - result["start"]
            result["path"] = self.path
            result["body"] = body
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answered.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "triage",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/triage",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "eu-west-1",
    })
    result["start"] = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not answered.wait(timeout):
            raise SystemExit(f"{binary} did not answer within {timeout}s")
        with open(f"/proc/{proc.pid}/status") as status:
            hwm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    finally:
        finished.set()
        proc.kill()
        proc.wait()
        server.shutdown()
    if not result["path"].endswith("/response"):
        raise SystemExit(f"the function reported an error: {result['body'][:300]!r}")
    return result["elapsed"] * 1000, hwm_kb / 1024, json.loads(result["body"])


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    binary, event_path = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with open(event_path, "rb") as f:
        event = f.read()
    times, peaks = [], []
    for _ in range(runs):
        ms, mb, response = measure(binary, event)
        times.append(ms)
        peaks.append(mb)
    cause = response.get("diagnosis", {}).get("cause")
    print(f"{os.path.basename(binary)}: cold start median {statistics.median(times):.1f} ms "
          f"(min {min(times):.1f}, max {max(times):.1f}, {runs} runs), "
          f"peak RSS {max(peaks):.1f} MB, size {os.path.getsize(binary) / 1e6:.2f} MB, "
          f"answered cause={cause}")


if __name__ == "__main__":
    main()
