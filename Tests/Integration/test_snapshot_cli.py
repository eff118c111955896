"""`rankctl snapshot build` and `validate` as a data pipeline uses them: exit codes, reports, Parquet input through
Scripts/parquet-to-jsonl.py (pyarrow), and a snapshot written directly by a Python job with stubs generated from
proto/ranking/catalog/v1/catalog.proto (docs/data.md)."""

import datetime
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKETPLACE = REPO_ROOT / "schemas" / "marketplace.json"
EMBEDDING = "|".join(["0.25"] * 16)

VENUES = f"""id,name,location,market,delivery_radius,opening_hours,cuisine,tags,price_level,rating,embedding
v1,"Luigi's, Mitte","52.5200,13.4050",ber,3000,Europe/Berlin; mon-fri 11:00-22:00; sat-sun 12:00-02:00,pizza,pizza|italian,2,4.6,{EMBEDDING}
v2,Sushi Go,"52.5101,13.3902",ber,2500,Europe/Berlin; mon-sun 12:00-22:00,sushi,sushi,3,4.2,
"""
ITEMS = """{"id": "i1", "name": "Margherita", "venue": "v1", "category": "main", "price": 9.5}
{"id": "i2", "name": "12\\" Pepperoni", "venue": "v1", "category": "main", "price": 11}
{"id": "i3", "name": "Salmon nigiri", "venue": "v2", "category": "main", "price": 6.5}
"""
USERS = """id,home,market,orders,ordered_items
u1,"52.5230,13.4120",ber,v1:order:2024-04-28T19:05:00Z,i1:order:2024-04-28T19:05:00Z
u2,"52.5000,13.4000",ber,,
"""


@pytest.fixture(scope="module")
def rankctl(pytestconfig):
    value = pytestconfig.getoption("--bin-dir")
    if not value:
        pytest.fail("no bin dir: pass --bin-dir DIR or set RANKD_BIN_DIR", pytrace=False)
    path = pathlib.Path(value).resolve() / "rankctl"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is not an executable file; build it first (swift build)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def catalog_pb2(tmp_path_factory):
    """Python stubs for the snapshot record format, generated from the tree as an export job would."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("catalog_stubs")
    code = protoc.main(["protoc", f"-I{REPO_ROOT / 'proto'}", f"--python_out={out}", "ranking/catalog/v1/catalog.proto"])
    assert code == 0, "protoc failed on ranking/catalog/v1/catalog.proto"
    sys.path.insert(0, str(out))
    from ranking.catalog.v1 import catalog_pb2 as module
    return module


def run(rankctl, *args):
    return subprocess.run([str(rankctl), "snapshot", *map(str, args)], capture_output=True, text=True, timeout=120)


def write_inputs(folder, venues=VENUES, items=ITEMS, users=USERS):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "venue.csv").write_text(venues)
    (folder / "item.jsonl").write_text(items)
    (folder / "user.csv").write_text(users)
    return folder


def read_records(catalog_pb2, path):
    """Every Entity of a length-delimited record file."""
    from google.protobuf.internal.decoder import _DecodeVarint32

    data, position, records = path.read_bytes(), 0, []
    while position < len(data):
        size, position = _DecodeVarint32(data, position)
        entity = catalog_pb2.Entity()
        entity.ParseFromString(data[position:position + size])
        records.append(entity)
        position += size
    return records


def test_build_then_validate_exit_zero(rankctl, tmp_path):
    inputs = write_inputs(tmp_path / "in")
    built = run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap",
                "--snapshot-id", "itest-1")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "wrote snapshot itest-1: 2 venue, 3 item, 2 user" in built.stdout

    validated = run(rankctl, "validate", tmp_path / "snap")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "valid, 7 records checked" in validated.stdout

    report = json.loads(run(rankctl, "validate", tmp_path / "snap", "--json").stdout)
    assert report["valid"] is True and report["snapshot_id"] == "itest-1"
    assert report["records"] == {"venue": 2, "item": 3, "user": 2}
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "snap" / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_build_with_broken_rows_exits_one_lists_every_problem_and_writes_nothing(rankctl, tmp_path):
    venues = VENUES.replace('"52.5101,13.3902"', '"95,13.39"').replace("Europe/Berlin; mon-sun", "Europe/Berlinn; mon-sun")
    items = ITEMS.replace('"venue": "v2"', '"venue": "v9"')
    inputs = write_inputs(tmp_path / "in", venues=venues, items=items)
    built = run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap", "--json")
    assert built.returncode == 1, built.stdout + built.stderr
    assert not (tmp_path / "snap").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".snap")], "staging folder left behind"
    report = json.loads(built.stdout)
    found = {(p["file"], p["record"], p["field"], p["class"]) for p in report["problems"]}
    assert found == {
        ("venue.csv", 2, "location", "coordinate_out_of_range"),
        ("venue.csv", 2, "opening_hours", "malformed_schedule"),
        ("item.jsonl", 3, "venue", "dangling_reference"),
    }, report


def test_validate_tampered_snapshot_exits_one_with_each_problem(rankctl, tmp_path):
    inputs = write_inputs(tmp_path / "in")
    assert run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap").returncode == 0
    manifest_path = tmp_path / "snap" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["record_counts"]["item"] = 4
    manifest_path.write_text(json.dumps(manifest))
    with open(tmp_path / "snap" / "user.pb", "ab") as user_file:
        user_file.write(bytes([0xFF] * 5 + [0x7F]))  # a length prefix far over the limit

    validated = run(rankctl, "validate", tmp_path / "snap")
    assert validated.returncode == 1, validated.stdout + validated.stderr
    lines = validated.stdout.splitlines()
    assert any(line.startswith("item.pb: record_count_mismatch: 3 records read, the manifest says 4") for line in lines)
    assert any(line.startswith("user.pb: checksum_mismatch:") for line in lines)
    assert any(line.startswith("user.pb: record 3: malformed_record:") and "over the limit" in line for line in lines)
    assert lines[-1].endswith("invalid, 3 problems (checksum_mismatch 1, record_count_mismatch 1, malformed_record 1)")


def test_unreadable_snapshot_exits_two(rankctl, tmp_path):
    missing = run(rankctl, "validate", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such snapshot folder" in missing.stderr

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{ this is not json")
    junk = run(rankctl, "validate", tmp_path / "junk")
    assert junk.returncode == 2 and "manifest.json: not valid JSON" in junk.stderr

    no_schema = run(rankctl, "build", "--schema", tmp_path / "none.json", "--input", tmp_path, "--out", tmp_path / "x")
    assert no_schema.returncode == 2 and "cannot read" in no_schema.stderr


def test_parquet_input_made_with_pyarrow_builds_and_validates(rankctl, catalog_pb2, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    inputs = write_inputs(tmp_path / "in")
    (inputs / "venue.csv").unlink()
    (inputs / "user.csv").unlink()
    opened = datetime.datetime(2023, 4, 1, 8, 30, tzinfo=datetime.timezone.utc)
    venues = pa.table({
        "id": ["v1", "v2"],
        "name": ["Luigi's, Mitte", "Sushi Go"],
        "location": [{"lat": 52.52, "lon": 13.405}, {"lat": 52.5101, "lon": 13.3902}],
        "market": ["ber", "ber"],
        "delivery_radius": pa.array([3000.0, 2500.0], pa.float64()),
        "opening_hours": ["Europe/Berlin; mon-fri 11:00-22:00; sat-sun 12:00-02:00", "Europe/Berlin; mon-sun 12:00-22:00"],
        "cuisine": ["pizza", "sushi"],
        "tags": [["pizza", "italian"], ["sushi"]],
        "price_level": pa.array([2, 3], pa.int32()),
        "created_at": pa.array([opened, None], pa.timestamp("ms", tz="UTC")),
        "embedding": pa.array([[0.25] * 16, None], pa.list_(pa.float32())),
    })
    pq.write_table(venues, inputs / "venue.parquet")
    ordered = datetime.datetime(2024, 4, 28, 19, 5)  # no zone: taken as UTC
    users = pa.table({
        "id": ["u1", "u2"],
        "home": [{"lat": 52.523, "lon": 13.412}, {"lat": 52.5, "lon": 13.4}],
        "market": ["ber", "ber"],
        "orders": pa.array(
            [[{"entity_id": "v1", "event": "order", "time": ordered}], []],
            pa.list_(pa.struct([("entity_id", pa.string()), ("event", pa.string()), ("time", pa.timestamp("ms"))]))),
    })
    pq.write_table(users, inputs / "user.parquet")

    built = run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap")
    assert built.returncode == 0, built.stdout + built.stderr
    validated = run(rankctl, "validate", tmp_path / "snap")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    venue_records = {entity.id: entity for entity in read_records(catalog_pb2, tmp_path / "snap" / "venue.pb")}
    v1 = venue_records["v1"].attributes
    assert v1["created_at"].timestamp_unix_ms == int(opened.timestamp() * 1000)
    assert list(v1["tags"].tags.values) == ["pizza", "italian"]
    assert len(v1["embedding"].embedding.values) == 16
    assert v1["location"].geo.lat == pytest.approx(52.52)
    assert "created_at" not in venue_records["v2"].attributes
    u1 = {entity.id: entity for entity in read_records(catalog_pb2, tmp_path / "snap" / "user.pb")}["u1"]
    interaction = u1.attributes["orders"].history.interactions[0]
    assert (interaction.entity_id, interaction.event) == ("v1", "order")
    assert interaction.unix_ms == int(ordered.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def test_parquet_with_a_bad_value_is_reported_against_its_row(rankctl, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    inputs = write_inputs(tmp_path / "in")
    (inputs / "item.jsonl").unlink()
    pq.write_table(pa.table({
        "id": ["i1", "i2", "i3"],
        "name": ["Margherita", "Pepperoni", "Nigiri"],
        "venue": ["v1", "v1", "v2"],
        "category": ["main", "main", "main"],
        "price": [9.5, float("nan"), 6.5],
    }), inputs / "item.parquet")
    built = run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap")
    assert built.returncode == 1, built.stdout + built.stderr
    assert "item.parquet: record 2: field price: invalid_value: nan is not a finite number" in built.stdout


def test_a_file_that_is_not_parquet_exits_two(rankctl, tmp_path):
    inputs = write_inputs(tmp_path / "in")
    (inputs / "item.jsonl").unlink()
    (inputs / "item.parquet").write_bytes(b"PAR1 but not really")
    built = run(rankctl, "build", "--schema", MARKETPLACE, "--input", inputs, "--out", tmp_path / "snap")
    assert built.returncode == 2, built.stdout + built.stderr
    assert "item.parquet: cannot be read as Parquet" in built.stderr
    assert not (tmp_path / "snap").exists()


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def write_snapshot(folder, schema_path, tables):
    """The export job of docs/data.md, verbatim apart from the id."""
    os.makedirs(folder)
    files, counts = {}, {}
    shutil.copyfile(schema_path, os.path.join(folder, "schema.json"))
    for kind, entities in tables.items():
        with open(os.path.join(folder, f"{kind}.pb"), "wb") as out:
            for entity in entities:
                data = entity.SerializeToString()
                out.write(varint(len(data)))
                out.write(data)
        counts[kind] = len(entities)
    for name in ["schema.json"] + [f"{kind}.pb" for kind in tables]:
        data = open(os.path.join(folder, name), "rb").read()
        files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    schema = json.load(open(schema_path))
    now = datetime.datetime.now(datetime.timezone.utc)
    manifest = {
        "format": "rankd-catalog-snapshot", "format_version": 1,
        "snapshot_id": f"{schema['name']}-{now:%Y%m%dT%H%M%SZ}",
        "created_at": now.isoformat(timespec="milliseconds"),
        "schema": {"name": schema["name"], "version": schema["version"], "file": "schema.json"},
        "record_counts": counts, "files": files,
    }
    with open(os.path.join(folder, "manifest.json"), "w") as out:
        json.dump(manifest, out, indent=2)


def test_snapshot_written_by_a_python_export_job_validates(rankctl, catalog_pb2, tmp_path):
    def venue(venue_id, lat):
        entity = catalog_pb2.Entity(id=venue_id)
        entity.attributes["name"].text = f"Venue {venue_id}"
        entity.attributes["location"].geo.lat, entity.attributes["location"].geo.lon = lat, 13.4
        entity.attributes["market"].category = "ber"
        entity.attributes["delivery_radius"].radius_m = 3000
        hours = entity.attributes["opening_hours"].schedule
        hours.time_zone = "Europe/Berlin"
        for day in range(1, 8):
            hours.intervals.add(weekday=day, open_minute=11 * 60, close_minute=22 * 60)
        entity.attributes["cuisine"].category = "pizza"
        entity.attributes["embedding"].embedding.values.extend([0.5] * 16)
        return entity

    item = catalog_pb2.Entity(id="i1")
    item.attributes["name"].text = "Margherita"
    item.attributes["venue"].reference = "v1"
    item.attributes["category"].category = "main"
    item.attributes["price"].number = 9.5
    user = catalog_pb2.Entity(id="u1")
    user.attributes["home"].geo.lat, user.attributes["home"].geo.lon = 52.5, 13.4
    user.attributes["market"].category = "ber"
    user.attributes["orders"].history.interactions.add(entity_id="v1", event="order", unix_ms=1714590000000)

    write_snapshot(tmp_path / "good", MARKETPLACE, {"venue": [venue("v1", 52.52)], "item": [item], "user": [user]})
    validated = run(rankctl, "validate", tmp_path / "good")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # The same job without checks of its own: validate is what stops it publishing.
    write_snapshot(tmp_path / "bad", MARKETPLACE,
                   {"venue": [venue("v1", 52.52), venue("v1", 152.0)], "item": [item], "user": [user]})
    validated = run(rankctl, "validate", tmp_path / "bad", "--json")
    assert validated.returncode == 1, validated.stdout + validated.stderr
    classes = sorted(p["class"] for p in json.loads(validated.stdout)["problems"])
    assert classes == ["coordinate_out_of_range", "duplicate_id"]
