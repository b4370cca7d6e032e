"""The demo's customers: countries and company names, each customer's profile by popularity rank,
their active spans in the window, and the small seeded-random helpers the traffic shares."""
from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass

import orjson

from core.demo.catalogue import APIS, UA_DESKTOP, UA_MOBILE, UA_SERVER, UA_TABLET

MAX_CUSTOMERS = 3000
REQUESTS_PER_CUSTOMER = 60  # below MAX_CUSTOMERS * this, fewer customers so each one has traffic
ZIPF_EXPONENT = 1.07
_ALNUM = string.ascii_letters + string.digits


# ---------------------------------------------------------------- countries and company names

# country → (weight, /16 prefixes that the offline database maps wholly to it, region label)
COUNTRIES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "US": (30, ("2.26", "19.122", "38.10"), "us-east"),
    "CA": (4, ("9.168", "70.52", "99.237"), "ca-central"),
    "GB": (8, ("1.186", "25.179", "51.43"), "eu-west"),
    "DE": (8, ("2.28", "53.56", "77.6"), "eu-central"),
    "FR": (5, ("2.3", "78.202", "83.192"), "eu-west"),
    "NL": (3, ("2.16", "81.59", "87.233"), "eu-west"),
    "IE": (1.5, ("31.88", "57.77", "57.145"), "eu-west"),
    "ES": (3, ("2.136", "77.27", "81.32"), "eu-south"),
    "IT": (3, ("2.32", "37.181", "80.183"), "eu-south"),
    "SE": (2, ("2.0", "78.75", "83.227"), "eu-north"),
    "PL": (2, ("5.173", "46.171", "80.50"), "eu-central"),
    "CH": (1.5, ("31.164", "57.187", "85.0"), "eu-central"),
    "AT": (1, ("46.74", "78.104", "83.215"), "eu-central"),
    "BE": (1, ("37.62", "57.242", "81.246"), "eu-west"),
    "DK": (1, ("2.104", "62.107", "80.166"), "eu-north"),
    "NO": (1, ("2.148", "81.166", "88.91"), "eu-north"),
    "FI": (0.8, ("37.33", "85.76", "91.153"), "eu-north"),
    "PT": (0.8, ("2.80", "82.154", "85.245"), "eu-south"),
    "CZ": (0.7, ("5.59", "80.188", "88.101"), "eu-central"),
    "MX": (2, ("131.178", "177.224", "187.162"), "sa-east"),
    "BR": (4, ("139.82", "177.129", "179.127"), "sa-east"),
    "AR": (1, ("24.232", "181.10", "181.88"), "sa-east"),
    "CL": (0.6, ("146.83", "164.96", "181.72"), "sa-east"),
    "CO": (0.8, ("152.200", "181.55", "181.149"), "sa-east"),
    "JP": (4, ("1.5", "106.130", "122.219"), "ap-northeast"),
    "KR": (2, ("1.11", "42.22", "106.254"), "ap-northeast"),
    "IN": (5, ("1.6", "49.137", "106.78"), "ap-south"),
    "SG": (2, ("8.128", "8.180", "43.20"), "ap-southeast"),
    "AU": (3, ("1.40", "58.6", "101.186"), "ap-southeast"),
    "NZ": (0.6, ("27.252", "114.23", "121.74"), "ap-southeast"),
    "ID": (1, ("9.154", "36.92", "39.217"), "ap-southeast"),
    "PH": (0.6, ("1.37", "49.149", "112.201"), "ap-southeast"),
    "VN": (0.6, ("1.52", "14.187", "14.250"), "ap-southeast"),
    "TH": (0.5, ("1.20", "49.231", "110.49"), "ap-southeast"),
    "HK": (0.8, ("1.36", "61.15", "112.119"), "ap-east"),
    "TW": (0.8, ("1.34", "49.159", "101.12"), "ap-east"),
    "MY": (0.5, ("1.9", "49.125", "113.210"), "ap-southeast"),
    "ZA": (1, ("41.0", "41.120", "105.1"), "af-south"),
    "NG": (0.6, ("41.58", "102.90", "102.94"), "af-south"),
    "KE": (0.4, ("41.80", "102.166", "105.58"), "af-south"),
    "EG": (0.4, ("41.32", "45.106", "105.34"), "me-central"),
    "AE": (0.8, ("2.48", "9.137", "31.219"), "me-central"),
    "IL": (0.8, ("2.52", "62.90", "80.178"), "me-central"),
    "TR": (0.8, ("5.24", "78.161", "78.191"), "eu-south"),
}
_SUFFIX = {
    "US": ("Inc.", "LLC", "Co."), "CA": ("Inc.", "Ltd."), "GB": ("Ltd", "plc"), "IE": ("Ltd",), "DE": ("GmbH", "AG"),
    "AT": ("GmbH",), "CH": ("AG", "GmbH"), "FR": ("SAS", "SA"), "NL": ("B.V.",), "BE": ("BV", "SA"), "ES": ("S.L.",),
    "IT": ("S.r.l.", "S.p.A."), "SE": ("AB",), "DK": ("ApS",), "NO": ("AS",), "FI": ("Oy",), "PL": ("sp. z o.o.",),
    "PT": ("Lda",), "CZ": ("s.r.o.",), "BR": ("Ltda.",), "MX": ("S.A. de C.V.",), "JP": ("K.K.",), "AU": ("Pty Ltd",),
    "NZ": ("Ltd",), "IN": ("Pvt Ltd",), "SG": ("Pte. Ltd.",),
}
_NAME_FIRST = (
    "Acme", "Alpine", "Amber", "Apex", "Arctic", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bold", "Bright",
    "Canyon", "Cedar", "Clear", "Cobalt", "Copper", "Coral", "Crimson", "Delta", "Echo", "Ember", "Evergreen",
    "Falcon", "Fern", "Golden", "Granite", "Harbor", "Hazel", "Horizon", "Indigo", "Iron", "Jade", "Juniper",
    "Kestrel", "Lakeside", "Lumen", "Maple", "Meadow", "Metro", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit",
    "Pacific", "Pine", "Pioneer", "Polar", "Prairie", "Prime", "Quantum", "Quartz", "Raven", "Red", "Ridge",
    "River", "Sage", "Sequoia", "Sierra", "Silver", "Sky", "Solar", "Spruce", "Starling", "Stone", "Summit", "Sun",
    "Swift", "Tidal", "Timber", "True", "Urban", "Vertex", "Vista", "Wild", "Willow", "Zen", "Zephyr",
)
_NAME_SECOND = (
    "Analytics", "Apparel", "Bank", "Bikes", "Books", "Brands", "Capital", "Cargo", "Clinics", "Cloud", "Coffee",
    "Commerce", "Dental", "Designs", "Digital", "Energy", "Fashion", "Fitness", "Foods", "Freight", "Furniture",
    "Games", "Health", "Home", "Insurance", "Kitchens", "Labs", "Learning", "Logistics", "Markets", "Media",
    "Medical", "Mobility", "Motors", "Music", "Networks", "Outdoors", "Partners", "Pay", "Pets", "Pharmacy",
    "Realty", "Retail", "Robotics", "Security", "Shoes", "Software", "Sports", "Studios", "Supply", "Systems",
    "Telecom", "Tickets", "Tools", "Travel", "Ventures", "Wellness", "Wines", "Works", "Yoga",
)
_NAME_SPACE = len(_NAME_FIRST) * len(_NAME_SECOND)  # 4800 distinct names ≥ MAX_CUSTOMERS


# ---------------------------------------------------------------- customers


@dataclass
class Customer:
    rank: int
    customer_id: str
    name: str
    plan: str
    country: str
    region: str | None
    weight: float
    apis: tuple[int, ...]
    api_cum: tuple[float, ...]
    id_mode: str  # meta_req | user_id_req | user_id_resp | meta_resp
    user_agents: tuple[str, ...]
    ips: tuple[str, ...]
    authorization: str
    metadata: str
    scheme: str = "https"
    start: float = 0.0  # seconds after the window start
    end: float = math.inf


def random_token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_ALNUM, k=n))


def weighted_choice(rng: random.Random, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def random_ip(rng: random.Random, country: str) -> str:
    prefix = rng.choice(COUNTRIES[country][1])
    return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


COUNTRY_CODES = tuple(COUNTRIES)
COUNTRY_WEIGHTS = tuple(v[0] for v in COUNTRIES.values())


def cumulative(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def customer_profile(seed: int, rank: int) -> Customer:
    """The demo customer of a given popularity rank (0 = busiest): independent of how many there are."""
    rng = random.Random(f"{seed}:customer:{rank}")
    customer_id = "cus_" + random_token(rng, 14)
    mixed = (rank * 2971 + seed * 131) % _NAME_SPACE  # 2971 is coprime with 4800: distinct names per rank
    country = weighted_choice(rng, COUNTRY_CODES, COUNTRY_WEIGHTS)
    suffix = rng.choice(_SUFFIX.get(country, ("Ltd",)))
    name = f"{_NAME_FIRST[mixed % len(_NAME_FIRST)]} {_NAME_SECOND[mixed // len(_NAME_FIRST)]} {suffix}"
    tier = rank / 30 + rng.random() * 1.5  # busier customers buy bigger plans, with exceptions
    plan = "Enterprise" if tier < 0.9 else "Pro" if tier < 4 else "Starter" if tier < 25 else "Free"
    region = COUNTRIES[country][2] if rng.random() < 0.45 else None

    main_api = weighted_choice(rng, range(len(APIS)), [a.customer_weight for a in APIS])
    n_apis = weighted_choice(rng, (1, 2, 3), (0.45, 0.38, 0.17))
    others = [i for i in range(len(APIS)) if i != main_api]
    rng.shuffle(others)
    apis = (main_api, *others[: n_apis - 1])
    api_cum = cumulative([1.0] + [rng.uniform(0.15, 0.6) for _ in apis[1:]])

    id_mode = weighted_choice(rng, ("meta_req", "user_id_req", "user_id_resp", "meta_resp"), (0.74, 0.13, 0.07, 0.06))
    if rank < 3:
        id_mode = "meta_req"  # the demo logins' customers show their company names
    kind = weighted_choice(rng, ("server", "web", "mobile", "mixed"), (0.58, 0.2, 0.12, 0.1))
    if kind == "server":
        uas = rng.sample(UA_SERVER, rng.randint(1, 2))
        ips = [random_ip(rng, country) for _ in range(rng.randint(1, 3))]
    elif kind == "web":
        uas = rng.sample(UA_DESKTOP, rng.randint(2, 4)) + [rng.choice(UA_TABLET)]
        ips = [random_ip(rng, country) for _ in range(rng.randint(4, 12))]
    elif kind == "mobile":
        uas = rng.sample(UA_MOBILE, rng.randint(2, 4)) + [rng.choice(UA_TABLET)]
        ips = [random_ip(rng, country) for _ in range(rng.randint(6, 16))]
    else:
        uas = [rng.choice(UA_SERVER), rng.choice(UA_DESKTOP), rng.choice(UA_MOBILE)]
        ips = [random_ip(rng, country) for _ in range(rng.randint(3, 8))]

    meta = {"user-id": customer_id, "user-name": name, "Plan": plan}
    if region:
        meta["region"] = region
    return Customer(
        rank=rank, customer_id=customer_id, name=name, plan=plan, country=country, region=region,
        weight=1.0 / (rank + 1) ** ZIPF_EXPONENT, apis=apis, api_cum=tuple(api_cum), id_mode=id_mode,
        user_agents=tuple(uas), ips=tuple(ips), authorization="Bearer sk_live_" + random_token(rng, 24),
        metadata=orjson.dumps(meta).decode(),
    )


def customer_count(requests: int) -> int:
    return max(1, min(MAX_CUSTOMERS, requests // REQUESTS_PER_CUSTOMER))


def customers_in_window(seed: int, n: int, window: float, rng: random.Random) -> list[Customer]:
    """All customers with their active spans: most active throughout, some joined during the window,
    a handful went quiet in the last 10 days (some of them big), some are new in the last 7 days."""
    customers = [customer_profile(seed, k) for k in range(n)]
    day = 86400.0
    days = window / day
    pool = list(range(min(5, n), n))  # the busiest five stay steady: the demo logins belong to them
    rng.shuffle(pool)

    def take(count: int, lo: int = 0, hi: int = n) -> list[int]:
        picked = [k for k in pool if lo <= k < hi][: max(0, count)]
        for k in picked:
            pool.remove(k)
        return picked

    n_quiet = max(1, round(n * 0.004)) + (2 if n >= 50 else 0)
    quiet = take(n_quiet // 2 + 1, hi=max(15, n // 50))
    quiet += take(n_quiet - len(quiet))
    new = take(max(1, round(n * 0.015)))
    joined = take(round(n * 0.2))
    legacy_http = take(max(1, n // 150), lo=n // 5) if n >= 10 else []
    for k in quiet:
        customers[k].end = window - rng.uniform(min(3, 0.1 * days), min(10, 0.3 * days)) * day
    for k in new:
        customers[k].start = window - rng.uniform(min(0.3, 0.05 * days), min(7, 0.25 * days)) * day
    # Joining throughout the window, as a growing API's customers do: joins that stopped at three quarters of it
    # halved the new customers of every demo's last week ("New customers -50 %", red, on Home's 7D).
    for k in joined:
        customers[k].start = rng.uniform(0.05, 0.97) * window
    # Small legacy integrations that still call over plain http (the credentials_over_http threat).
    for k in legacy_http:
        customers[k].scheme = "http"
    return customers
