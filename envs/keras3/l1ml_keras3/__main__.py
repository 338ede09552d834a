"""`python -m l1ml_keras3 REQUEST.json`: run one action of the worker and write its result JSON.

Exit codes: 0 done (the request's "result" file written), 2 a refusal or bad input (one line on stderr,
prefixed "error: "), anything else a crash (its traceback on stderr, for the log)."""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("error: usage: python -m l1ml_keras3 REQUEST.json", file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            req = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the request {argv[0]}: {exc}", file=sys.stderr)
        return 2
    from l1ml_keras3 import work

    actions = {"train": work.train, "convert": work.convert, "predict": work.predict}
    action = req.get("action")
    if action not in actions:
        print(f"error: unknown action {action!r}; known: {', '.join(actions)}", file=sys.stderr)
        return 2
    try:
        result = actions[action](req)
    except work.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tmp = req["result"] + ".part"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    os.replace(tmp, req["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
