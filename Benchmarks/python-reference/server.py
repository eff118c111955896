#!/usr/bin/env python3
"""The "what a team would ship first" baseline for rankd's Recommend: grpcio + pandas/numpy + LightGBM.

It serves ranking.v1.RankingService/Recommend for the discovery surface (and grpc.health.v1.Health/Check) over
the demo marketplace rankd serves, with the same LightGBM model file rankd embeds, the same candidate sources and
quotas (Sources/Ranking/Resources/surfaces.json) and the same 22 feature names in the same order, computed with
vectorised numpy per request. It is the straightforward design: one process, grpcio's thread pool, the whole
model on every candidate, a sort, a brand cap, four sections.

    (cd Benchmarks && swift run -c release export-demo-catalog DATA)   # venues, users, orders as CSV
    python3 Benchmarks/python-reference/server.py --data DATA --port 50052

Where it differs from rankd, and why (see BENCHMARKS.md):
  * The CSV export has no embeddings and no declared cuisine affinities, so `embedding_dot` is missing (NaN,
    which LightGBM routes as it learned to) and the embedding candidate source is absent; `cuisine_affinity` is
    the user's share of past orders in the venue's cuisine. `covisit_score` comes from co-orders computed at
    start-up, as an offline job would produce them.
  * Scoring runs the full model on every candidate (rankd runs a first phase of 30 trees and the full model on
    the top 120), with no experiment split, no diversity penalty and no exploration slot.
  * Only the discovery surface: other surfaces answer UNIMPLEMENTED. Rank is not served.
Python: grpcio, grpcio-tools, protobuf, numpy, pandas, lightgbm.
"""
import argparse
import datetime
import math
import os
import sys
import tempfile
import time
import zoneinfo
from concurrent import futures

import grpc
import lightgbm as lgb
import numpy as np
import pandas as pd

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CUISINES = ["pizza", "burger", "sushi", "indian", "chinese", "thai", "mexican", "italian", "middle_eastern",
            "vietnamese", "healthy", "breakfast", "dessert", "grocery", "korean", "greek"]
# name, market, latitude, longitude, IANA time zone: Sources/Ranking/Catalog/Marketplace.swift
CITIES = [("Berlin", "ber", 52.5200, 13.4050, "Europe/Berlin"), ("Warsaw", "waw", 52.2297, 21.0122, "Europe/Warsaw"),
          ("Stockholm", "sto", 59.3293, 18.0686, "Europe/Stockholm"),
          ("Prague", "prg", 50.0755, 14.4378, "Europe/Prague"),
          ("Copenhagen", "cph", 55.6761, 12.5683, "Europe/Copenhagen"),
          ("Helsinki", "hel", 60.1699, 24.9384, "Europe/Helsinki"), ("Oslo", "osl", 59.9139, 10.7522, "Europe/Oslo"),
          ("Tallinn", "tll", 59.4370, 24.7536, "Europe/Tallinn")]
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320
CITY_RADIUS_KM = 30.0
MAX_DELIVERY_KM = 6.0
NEW_VENUE_DAYS = 30
FEATURES = ["distance_km", "delivery_margin_km", "eta_minutes", "venue_rating", "venue_price_level",
            "venue_popularity", "venue_age_days", "venue_is_chain", "venue_cuisine", "venue_minutes_to_close",
            "user_order_count", "user_avg_price_level", "user_days_since_last_order", "user_venue_orders",
            "user_venue_days_since_last_order", "user_brand_orders", "cuisine_affinity", "price_level_gap",
            "embedding_dot", "covisit_score", "hour", "weekday"]


def generate_stubs_safely():
    """Compiles the contract with grpcio-tools into a temporary folder and imports the modules."""
    # The generated health module lives in a package named "grpc", which would shadow grpcio itself; compile it
    # under another root so both import.
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="rankd-pyref-")
    health_root = os.path.join(out, "healthproto")
    os.makedirs(os.path.join(health_root, "rankd_health"), exist_ok=True)
    with open(os.path.join(REPO, "proto/grpc/health/v1/health.proto")) as source:
        text = source.read()
    with open(os.path.join(health_root, "rankd_health", "health.proto"), "w") as copy:
        copy.write(text)
    for include, proto in [(f"{REPO}/proto", "ranking/v1/ranking.proto"), (health_root, "rankd_health/health.proto")]:
        code = protoc.main(["protoc", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", proto])
        if code != 0:
            sys.exit(f"protoc failed on {proto}")
    sys.path.insert(0, out)
    from ranking.v1 import ranking_pb2, ranking_pb2_grpc
    from rankd_health import health_pb2, health_pb2_grpc
    return ranking_pb2, ranking_pb2_grpc, health_pb2, health_pb2_grpc


class Catalog:
    """The demo marketplace as numpy columns, loaded from the CSVs of export-demo-catalog (the demo's own tables, DemoDomains)."""

    def __init__(self, data, reference_day):
        venues = pd.read_csv(os.path.join(data, "venues.csv"), keep_default_na=False)
        users = pd.read_csv(os.path.join(data, "users.csv"), keep_default_na=False)
        orders = pd.read_csv(os.path.join(data, "orders.csv"), keep_default_na=False,
                             usecols=["user_id", "venue_id", "day"])
        markets = {c[1]: i for i, c in enumerate(CITIES)}
        self.reference_day = reference_day
        self.venue_count = len(venues)
        self.user_count = len(users)
        self.lat = venues["latitude"].to_numpy(np.float64)
        self.lon = venues["longitude"].to_numpy(np.float64)
        self.city = venues["city"].map(markets).to_numpy(np.int64)
        self.radius = venues["delivery_radius_km"].to_numpy(np.float64)
        self.open_minute = venues["open_minute"].to_numpy(np.int64)
        self.close_minute = venues["close_minute"].to_numpy(np.int64)
        self.closed_days = venues["closed_days_mask"].to_numpy(np.int64)
        self.cuisine = venues["cuisine"].map({c: i for i, c in enumerate(CUISINES)}).to_numpy(np.int64)
        brand = venues["brand_id"].astype(str)
        self.brand = np.where(brand == "", -1, pd.to_numeric(brand.str[1:], errors="coerce").fillna(0)).astype(np.int64)
        self.price = venues["price_level"].to_numpy(np.float64)
        self.rating = venues["rating"].to_numpy(np.float64)
        self.prep = venues["prep_minutes"].to_numpy(np.float64)
        self.available = venues["available"].to_numpy(np.int64) == 1
        self.created_day = venues["created_day"].to_numpy(np.int64)
        self.popularity = venues["popularity"].to_numpy(np.float64)
        self.city_venues = [np.flatnonzero(self.city == c) for c in range(len(CITIES))]
        self.city_by_popularity = [v[np.argsort(-self.popularity[v], kind="stable")] for v in self.city_venues]
        self.city_new = [v[np.argsort(-self.created_day[v], kind="stable")] for v in self.city_venues]
        self.user_lat = users["home_latitude"].to_numpy(np.float64)
        self.user_lon = users["home_longitude"].to_numpy(np.float64)

        # Order history per user: venue indexes and days, oldest first (the export's order).
        user_index = orders["user_id"].str[1:].astype(np.int64).to_numpy() - 1
        venue_index = orders["venue_id"].str[1:].astype(np.int64).to_numpy() - 1
        days = orders["day"].to_numpy(np.int64)
        order = np.argsort(user_index, kind="stable")
        self.order_venue = venue_index[order]
        self.order_day = days[order]
        self.user_start = np.searchsorted(user_index[order], np.arange(self.user_count + 1))
        self.covisit = self._covisits(user_index[order], venue_index[order])

    def _covisits(self, users, venues, keep=20):
        """For each venue, the venues most often ordered by the same users: the offline co-visitation table."""
        pairs = pd.DataFrame({"u": users, "v": venues}).drop_duplicates()
        joined = pairs.merge(pairs, on="u")
        joined = joined[joined["v_x"] != joined["v_y"]]
        counts = joined.groupby(["v_x", "v_y"]).size().reset_index(name="w")
        counts = counts.sort_values(["v_x", "w"], ascending=[True, False], kind="stable")
        counts = counts.groupby("v_x").head(keep)
        table = {}
        for v, group in counts.groupby("v_x"):
            table[int(v)] = (group["v_y"].to_numpy(np.int64), group["w"].to_numpy(np.float64))
        return table

    def nearest_city(self, lat, lon):
        best, best_km = None, float("inf")
        for i, c in enumerate(CITIES):
            scale = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
            km = math.hypot((c[2] - lat) * KM_PER_DEG_LAT, (c[3] - lon) * scale)
            if km < best_km:
                best, best_km = i, km
        return best if best_km <= CITY_RADIUS_KM * 1.5 else None


class Pipeline:
    """Candidates, features, LightGBM scores, a sort with a brand cap, and the four discovery sections."""

    SOURCES = [("nearby", 300), ("reorder", 40), ("covisit", 60), ("embedding", 100), ("popular", 80), ("new", 30)]
    SECTIONS = [("for_you", "For you", None), ("order_again", "Order again", "reorder"),
                ("new_near_you", "New near you", "new"), ("popular_nearby", "Popular nearby", "popular")]

    def __init__(self, catalog, model_path):
        self.catalog = catalog
        self.booster = lgb.Booster(model_file=model_path)
        names = self.booster.feature_name()
        if names != FEATURES:
            sys.exit(f"{model_path} expects features {names}, not the feature join's {FEATURES}")
        self.version = os.path.splitext(os.path.basename(model_path))[0]

    def recommend(self, user_id, lat, lon, market, time_ms, limit, exclude):
        c = self.catalog
        user = None
        if user_id.startswith("u") and user_id[1:].isdigit() and 1 <= int(user_id[1:]) <= c.user_count:
            user = int(user_id[1:]) - 1
        if lat == 0 and lon == 0:
            if user is not None:
                lat, lon = c.user_lat[user], c.user_lon[user]
            else:
                city = next((i for i, x in enumerate(CITIES) if x[1] == market), 0)
                lat, lon = CITIES[city][2], CITIES[city][3]
        city = c.nearest_city(lat, lon)
        if city is None:
            city = next((i for i, x in enumerate(CITIES) if x[1] == market), None)
        if city is None:
            return []
        now = datetime.datetime.fromtimestamp((time_ms or time.time() * 1000) / 1000, datetime.timezone.utc)
        local = now.astimezone(zoneinfo.ZoneInfo(CITIES[city][4]))  # daylight saving included, as in rankd
        minute_of_day = local.hour * 60 + local.minute
        weekday = local.weekday()
        day = int(now.timestamp() // 86400) - c.reference_day
        lon_scale = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))

        # Orderable venues of the city: available, open now, and delivering to this point.
        venues = c.city_venues[city]
        km = np.hypot((c.lat[venues] - lat) * KM_PER_DEG_LAT, (c.lon[venues] - lon) * lon_scale)
        open_now = self._open(venues, weekday, minute_of_day)
        orderable_mask = c.available[venues] & open_now & (km <= c.radius[venues])
        orderable = set(venues[orderable_mask].tolist())

        history_v = c.order_venue[c.user_start[user]:c.user_start[user + 1]] if user is not None else np.empty(0, int)
        history_d = c.order_day[c.user_start[user]:c.user_start[user + 1]] if user is not None else np.empty(0, int)
        past, past_counts = np.unique(history_v, return_counts=True)
        by_frequency = past[np.argsort(-past_counts, kind="stable")]

        found = {}  # venue -> bit mask of sources

        def add(v, bit):
            found[v] = found.get(v, 0) | bit

        for bit_index, (name, quota) in enumerate(self.SOURCES):
            bit = 1 << bit_index
            if name == "nearby":
                near = venues[orderable_mask & (km <= MAX_DELIVERY_KM)]
                near_km = km[orderable_mask & (km <= MAX_DELIVERY_KM)]
                for v in near[np.argsort(near_km, kind="stable")][:quota]:
                    add(int(v), bit)
            elif name == "reorder":
                for v in by_frequency[:quota]:
                    add(int(v), bit)
            elif name == "covisit":
                weights = {}
                for v in by_frequency:
                    for w, weight in zip(*c.covisit.get(int(v), ((), ()))):
                        weights[int(w)] = weights.get(int(w), 0) + weight
                added = 0
                for w, _ in sorted(weights.items(), key=lambda kv: -kv[1]):
                    if added >= quota:
                        break
                    if w in orderable:
                        add(w, bit)
                        added += 1
            elif name == "popular":
                added = 0
                for v in c.city_by_popularity[city][:40 * quota]:
                    if added >= quota:
                        break
                    if int(v) in orderable:
                        add(int(v), bit)
                        added += 1
            elif name == "new":
                added = 0
                for v in c.city_new[city]:
                    if added >= quota or c.created_day[v] <= day - NEW_VENUE_DAYS:
                        break
                    if int(v) in orderable:
                        add(int(v), bit)
                        added += 1
            # "embedding": the export has no embeddings, so this source finds nothing here.
        for excluded in exclude:
            if excluded.startswith("v") and excluded[1:].isdigit():
                found.pop(int(excluded[1:]) - 1, None)
        if not found:
            return []

        candidates = np.fromiter(found.keys(), dtype=np.int64)
        masks = np.fromiter(found.values(), dtype=np.int64)
        features = self._features(candidates, user, lat, lon, lon_scale, day, weekday, minute_of_day, local.hour,
                                  history_v, history_d, by_frequency)
        # One thread: the server's core is the only one it has, and LightGBM's pool would fight grpcio for it.
        scores = self.booster.predict(features, num_threads=1)
        order = np.argsort(-scores, kind="stable")

        # Brand cap: at most two venues of one chain in any 20 consecutive places.
        ranked, recent = [], []
        for i in order:
            brand = c.brand[candidates[i]]
            if brand >= 0 and sum(1 for b in recent[-19:] if b == brand) >= 2:
                continue
            ranked.append(i)
            recent.append(brand)
        claimed, sections = set(), []
        names = [s[0] for s in self.SOURCES]
        assigned = {key: [] for key, _, _ in self.SECTIONS}
        for key, _, source in [s for s in self.SECTIONS if s[2]] + [s for s in self.SECTIONS if not s[2]]:
            bit = (1 << names.index(source)) if source else 0
            for i in ranked:
                if len(assigned[key]) >= limit:
                    break
                if i not in claimed and (bit == 0 or masks[i] & bit):
                    assigned[key].append(i)
                    claimed.add(i)
        for key, title, _ in self.SECTIONS:
            if assigned[key]:
                sections.append((key, title, [(f"v{candidates[i] + 1}", float(scores[i])) for i in assigned[key]]))
        return sections

    def _open(self, venues, weekday, minute):
        c = self.catalog
        open_m, close_m, closed = c.open_minute[venues], c.close_minute[venues], c.closed_days[venues]
        today = ((closed >> weekday) & 1 == 0) & (minute >= open_m) & (minute < close_m)
        yesterday = (weekday + 6) % 7
        late = (close_m > 1440) & (minute < close_m - 1440) & ((closed >> yesterday) & 1 == 0)
        return today | late

    def _features(self, v, user, lat, lon, lon_scale, day, weekday, minute, hour, history_v, history_d,
                  by_frequency):
        c = self.catalog
        n = len(v)
        x = np.full((n, len(FEATURES)), np.nan)
        km = np.hypot((c.lat[v] - lat) * KM_PER_DEG_LAT, (c.lon[v] - lon) * lon_scale)
        x[:, 0] = km
        x[:, 1] = c.radius[v] - km
        x[:, 2] = c.prep[v] + 4 * km
        x[:, 3] = c.rating[v]
        x[:, 4] = c.price[v]
        x[:, 5] = c.popularity[v]
        x[:, 6] = day - c.created_day[v]
        x[:, 7] = (c.brand[v] >= 0).astype(np.float64)
        x[:, 8] = c.cuisine[v]
        open_now = self._open(v, weekday, minute)
        to_close = np.where(minute >= c.open_minute[v], c.close_minute[v] - minute, c.close_minute[v] - 1440 - minute)
        x[:, 9] = np.where(open_now, to_close, 0)
        if user is not None:
            count = len(history_v)
            x[:, 10] = count
            if count:
                avg_price = c.price[history_v].mean()
                x[:, 11] = avg_price
                x[:, 12] = day - history_d.max()
                x[:, 17] = c.price[v] - avg_price
                # Per past venue: order count and last order day, looked up for every candidate.
                past, counts = np.unique(history_v, return_counts=True)
                last_day = np.maximum.reduceat(history_d[np.argsort(history_v, kind="stable")],
                                               np.concatenate(([0], np.cumsum(counts)[:-1])))
                slot = np.clip(np.searchsorted(past, v), 0, len(past) - 1)
                hit = past[slot] == v
                x[:, 13] = np.where(hit, counts[slot], 0)
                x[:, 14] = np.where(hit, day - last_day[slot], np.nan)
                brands, brand_counts = np.unique(c.brand[history_v], return_counts=True)
                bslot = np.clip(np.searchsorted(brands, c.brand[v]), 0, len(brands) - 1)
                x[:, 15] = np.where((c.brand[v] >= 0) & (brands[bslot] == c.brand[v]), brand_counts[bslot], 0)
                shares = np.bincount(c.cuisine[history_v], minlength=len(CUISINES)) / count
                x[:, 16] = shares[c.cuisine[v]]
                weights = {}
                for past in by_frequency:
                    for w, weight in zip(*c.covisit.get(int(past), ((), ()))):
                        weights[int(w)] = weights.get(int(w), 0) + weight
                x[:, 19] = [weights.get(int(candidate), 0.0) for candidate in v]
            else:
                x[:, 13] = 0
                x[:, 15] = 0
                x[:, 16] = 0
                x[:, 19] = 0
        x[:, 20] = hour
        x[:, 21] = weekday
        return x


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50052)
    parser.add_argument("--data", required=True, help="export-demo-catalog output folder (venues/users/orders.csv)")
    parser.add_argument("--model", default=os.path.join(REPO, "Sources/Ranking/Resources/discovery-lgbm.txt"))
    parser.add_argument("--workers", type=int, default=4, help="grpcio thread pool size")
    parser.add_argument("--reference-day", type=int, default=int(time.time() // 86400),
                        help="UTC day the export is 'as of' (the export uses today)")
    args = parser.parse_args()
    for name in ["venues.csv", "users.csv", "orders.csv"]:
        if not os.path.exists(os.path.join(args.data, name)):
            sys.exit(f"{args.data}/{name} is missing: run `swift run -c release export-demo-catalog {args.data}` "
                     "in Benchmarks/")
    if not os.path.exists(args.model):
        sys.exit(f"model {args.model} is missing")

    ranking_pb2, ranking_pb2_grpc, health_pb2, health_pb2_grpc = generate_stubs_safely()
    started = time.time()
    pipeline = Pipeline(Catalog(args.data, args.reference_day), args.model)
    print(f"python reference: catalog and model loaded in {time.time() - started:.1f} s", file=sys.stderr)

    class RankingService(ranking_pb2_grpc.RankingServiceServicer):
        def Recommend(self, request, context):
            if request.surface != "discovery":
                context.abort(grpc.StatusCode.UNIMPLEMENTED, "the Python reference serves the discovery surface only")
            if not request.user_id:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "user_id is required")
            ctx = request.context
            sections = pipeline.recommend(request.user_id, ctx.latitude, ctx.longitude, ctx.market,
                                          ctx.request_time_unix_ms, request.limit or 20,
                                          list(request.exclude_item_ids))
            for key, title, items in sections:
                yield ranking_pb2.RecommendResponse(
                    section=key, title=title, model_version=pipeline.version, variant="control",
                    items=[ranking_pb2.RankedItem(item_id=item, venue_id=item, score=score) for item, score in items])

    class Health(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    ranking_pb2_grpc.add_RankingServiceServicer_to_server(RankingService(), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    print(f"python reference listening on {args.host}:{port}", file=sys.stderr, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
