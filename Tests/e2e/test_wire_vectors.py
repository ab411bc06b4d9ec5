"""Our MessagePack coder against an independent one (PyPI msgpack), in both directions."""
import json
import struct
import subprocess
import tempfile
from pathlib import Path

import msgpack


def expected(spec):
    """Builds the Python value a manifest SPEC describes."""
    t = spec["type"]
    if t == "int":
        return int(spec["value"])
    if t == "float64":
        return struct.unpack(">d", bytes.fromhex(spec["hex"]))[0]
    if t == "float32":
        return struct.unpack(">f", bytes.fromhex(spec["hex"]))[0]
    if t == "bool":
        return spec["value"]
    if t == "nil":
        return None
    if t == "str":
        return spec["value"]
    if t == "bin":
        return bytes.fromhex(spec["hex"])
    if t == "timestamp":
        return msgpack.Timestamp(spec["seconds"], spec["nanoseconds"])
    if t == "array":
        return [expected(item) for item in spec["items"]]
    if t == "map":
        return {expected(k): expected(v) for k, v in spec["entries"]}
    raise ValueError(f"unknown spec type {t}")


def test_our_encoding_decodes_in_python_and_python_encoding_decodes_in_swift(bin_dir):
    tool = str(bin_dir / "wire-vectors")
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as theirs:
        subprocess.run([tool, "encode", ours], check=True, capture_output=True)
        manifest = json.loads((Path(ours) / "manifest.json").read_text())
        assert len(manifest) >= 25
        kinds = {entry["expect"]["type"] for entry in manifest}
        assert {"int", "float64", "str", "bin", "timestamp", "map", "array", "nil"} <= kinds

        for entry in manifest:
            name, want = entry["name"], expected(entry["expect"])
            raw = (Path(ours) / f"{name}.msgpack").read_bytes()
            got = msgpack.unpackb(raw, raw=False, timestamp=0, strict_map_key=False)
            assert got == want, f"{name}: python read {got!r}, expected {want!r}"
            # Python writes the same value its own way; timestamps become ext -1, bytes become bin.
            packed = msgpack.packb(want, use_bin_type=True, use_single_float=entry["expect"]["type"] == "float32")
            (Path(theirs) / f"{name}.msgpack").write_bytes(packed)

        # Width checks the spec fixes: timestamps in all three forms, str16, bin16.
        assert (Path(ours) / "timestamp32.msgpack").read_bytes()[:2] == b"\xd6\xff"
        assert (Path(ours) / "timestamp64.msgpack").read_bytes()[:2] == b"\xd7\xff"
        assert (Path(ours) / "timestamp96.msgpack").read_bytes()[:3] == b"\xc7\x0c\xff"
        assert (Path(ours) / "str16.msgpack").read_bytes()[:1] == b"\xda"
        assert (Path(ours) / "bin16.msgpack").read_bytes()[:1] == b"\xc5"

        result = subprocess.run([tool, "decode", theirs], capture_output=True, text=True)
        lines = result.stdout.strip().splitlines()
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(lines) == len(manifest) and all(line.startswith("ok ") for line in lines)


def test_swift_refuses_what_python_calls_malformed(bin_dir, tmp_dir):
    """A truncated vector is refused by our decoder just as msgpack refuses it."""
    tool = str(bin_dir / "wire-vectors")
    subprocess.run([tool, "encode", str(tmp_dir)], check=True, capture_output=True)
    for name in ["money", "nested", "str16"]:
        path = tmp_dir / f"{name}.msgpack"
        data = path.read_bytes()
        path.write_bytes(data[:-1])
        try:
            msgpack.unpackb(data[:-1])
            raise AssertionError("msgpack accepted a truncated value")
        except (ValueError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackValueError):
            pass
    result = subprocess.run([tool, "decode", str(tmp_dir)], capture_output=True, text=True)
    assert result.returncode == 1
    failed = {line.split()[1].rstrip(":") for line in result.stdout.splitlines() if line.startswith("FAIL")}
    assert failed == {"money", "nested", "str16"}
