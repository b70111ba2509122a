"""`nmt serve` as a process: it answers on loopback, finishes a request in flight when it gets
SIGTERM and exits 0, and a taken port is one error line."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time

from nmt.bench.serve import ServerProcess, get, load_test


def test_serve_answers_and_stops_gracefully_on_sigterm(imported_tiny1):
    with ServerProcess(str(imported_tiny1), ["--threads", "1"]) as server:
        models = json.loads(get(server.url, "/v1/models")[1])["models"]
        pair = models[0]["source"], models[0]["target"]
        result = load_test(server.url, *pair, ["A dog runs.", "Two men sit."], clients=3, requests=4)
        assert result["requests"] == 12 and result["batches"] >= 1
        assert 0 < result["model_busy"] <= 1
        active = result["while_all_clients_active"]
        assert 0 < active["seconds"] <= result["seconds"] and active["sentences_per_s"] > 0
        answers = []

        def long_request():  # 300 sentences: in flight when SIGTERM arrives
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            conn.request("POST", "/translate", json.dumps(
                {"q": ["A dog runs in the snow."] * 300, "source": pair[0], "target": pair[1]}),
                {"Content-Type": "application/json"})
            response = conn.getresponse()
            answers.append((response.status, json.loads(response.read())))

        t = threading.Thread(target=long_request)
        t.start()
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        t.join(120)
        code = server.proc.wait(120)
        err = server.proc.stderr.read()
    assert answers and answers[0][0] == 200 and len(answers[0][1]["translatedText"]) == 300
    assert code == 0, err
    assert err.strip().splitlines()[-1] == "nmt serve: stopped"


def test_a_taken_port_is_one_line(imported_tiny1):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "nmt", "serve", "--checkpoint",
                               str(imported_tiny1), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"nmt serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
