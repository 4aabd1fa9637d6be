"""The seed document's ComfyUI client, reimplemented for bench/cli_overhead.py.

It is ComfyUI's well-known API example turned into a loop: POST the API graph to /prompt, then
ask /queue and /history every `interval` seconds until the history holds the prompt, then GET the
video from /view. Standard library only, as in the example.

    python bench/_seed_client.py URL GRAPH.json OUT.mp4 [--interval 10]

Prints one JSON line: {"prompt_id", "bytes"}.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def _video(outputs: dict[str, Any]) -> dict[str, Any]:
    for ui in outputs.values():
        for items in ui.values():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and str(item.get("filename", "")).endswith(".mp4"):
                    return item
    raise SystemExit("no video in the outputs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("graph")
    parser.add_argument("out")
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.graph, encoding="utf-8") as handle:
        graph = json.load(handle)
    body = json.dumps({"prompt": graph, "client_id": str(uuid.uuid4())}).encode()
    request = urllib.request.Request(args.url + "/prompt", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        prompt_id = json.load(resp)["prompt_id"]
    while True:
        _get(args.url + "/queue")
        history = _get(f"{args.url}/history/{prompt_id}")
        if prompt_id in history:
            break
        time.sleep(args.interval)
    video = _video(history[prompt_id]["outputs"])
    query = urllib.parse.urlencode({k: video.get(k, "") for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{args.url}/view?{query}", timeout=30) as resp:
        data = resp.read()
    with open(args.out, "wb") as handle:
        handle.write(data)
    print(json.dumps({"prompt_id": prompt_id, "bytes": len(data)}))


if __name__ == "__main__":
    main()
