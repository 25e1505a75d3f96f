"""RUN/log.jsonl in the record format of src/train/run-log.node.ts, so `hnfnet plot RUN` draws a twin run."""
import datetime
import json
import math
import os

from .checkpoint import _write_temp

LOG = 'log.jsonl'


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


class RunLog:
    """Appends one JSON object per line; a resume first drops the lines after its checkpoint
    (and a torn last line), so the log reads as one uninterrupted run."""

    def __init__(self, path, keep_up_to=None):
        if keep_up_to is not None:
            kept = []
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        try:
                            v = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(v, dict) and v.get('step', math.inf) <= keep_up_to:
                            kept.append(json.dumps(v) + '\n')
            os.replace(_write_temp(path, lambda f: f.write(''.join(kept).encode())), path)
        self.f = open(path, 'a' if keep_up_to is not None else 'w')

    def append(self, line):
        self.f.write(json.dumps(line) + '\n')
        self.f.flush()

    def close(self):
        self.f.close()
