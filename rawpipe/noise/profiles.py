"""ISO-dependent noise profiles: ``a(ISO)``, ``b(ISO)`` polynomials, stored as JSON.

PMRID (Wang et al., ECCV 2020) models a phone sensor by ``k(ISO)`` linear and ``s(ISO)``
quadratic in ISO; ``IsoNoiseModel`` stores such polynomials (in normalised units, per channel or
shared) and
gives ``NoiseParams`` at any ISO. Profiles a user needs at run time ship as package data in
``rawpipe/profiles/*.json``; ``calibration/`` holds the measurements behind them.

JSON schema (``"schema": "rawpipe.noise_profile"``, ``"version": 1``)::

    {"schema": "rawpipe.noise_profile", "version": 1,
     "name": "pmrid-phone", "make": null, "model": null, "description": "...",
     "units": "normalized",          # x = (DN - black) / (white - black)
     "iso_range": [100, 6400],       # ISOs the fit is backed by
     "shot": [[c0, c1, ...]],        # a(ISO) = c0 + c1*ISO + ...; 1 list (all) or 4 (R,G1,G2,B)
     "read": [[c0, c1, c2, ...]],    # b(ISO), same layout
     "points": [{"iso": 200, "shot": [...], "read": [...]}, ...]}   # optional raw measurements
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rawpipe.noise.params import NoiseParams

__all__ = [
    "PROFILE_SCHEMA",
    "PROFILE_VERSION",
    "IsoNoiseModel",
    "find_profile",
    "list_profiles",
    "load_profile",
    "pmrid_phone_model",
    "save_profile",
]

PROFILE_SCHEMA = "rawpipe.noise_profile"
PROFILE_VERSION = 1

# PMRID (Wang et al. 2020), in DN of a 10-bit sensor with white − black = 959:
# k(ISO) = 5.995e-4·ISO + 8.689e-3, s(ISO) = 7.11772e-7·ISO² + 6.514934e-4·ISO + 0.11492713.
PMRID_RANGE_DN = 959.0
PMRID_K_DN = (8.689e-3, 5.995e-4)
PMRID_S_DN = (0.11492713, 6.514934e-4, 7.11772e-7)


def _coeffs(v: Any) -> tuple[tuple[float, ...], ...]:
    arr = [tuple(float(c) for c in row) for row in (v if _is_nested(v) else [v])]
    if len(arr) not in (1, 4):
        raise ValueError(f"noise profile: 1 or 4 coefficient lists, got {len(arr)}")
    if any(len(r) == 0 for r in arr):
        raise ValueError("noise profile: empty coefficient list")
    return tuple(arr)


def _is_nested(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and isinstance(v[0], (list, tuple))


@dataclass(frozen=True)
class IsoNoiseModel:
    """Noise parameters as polynomials in ISO (normalised units).

    ``shot[c]`` / ``read[c]`` are coefficients in increasing powers of ISO, one list for all
    channels or four (RGGB). ``points`` keeps the measured ``(iso, NoiseParams)`` behind a fit.

    >>> m = pmrid_phone_model()
    >>> p = m.params_at(1600)
    >>> round(p.shot * 1e3, 2), round(p.read * 1e6, 2)
    (1.01, 3.24)
    """

    name: str
    shot: tuple[tuple[float, ...], ...]
    read: tuple[tuple[float, ...], ...]
    iso_range: tuple[float, float]
    make: str | None = None
    model: str | None = None
    description: str = ""
    points: tuple[tuple[float, NoiseParams], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shot", _coeffs(self.shot))
        object.__setattr__(self, "read", _coeffs(self.read))
        lo, hi = (float(v) for v in self.iso_range)
        if not (0 < lo <= hi):
            raise ValueError(f"iso_range must satisfy 0 < lo <= hi, got {self.iso_range}")
        object.__setattr__(self, "iso_range", (lo, hi))

    def params_at(self, iso: float) -> NoiseParams:
        """``NoiseParams`` at ``iso`` (polynomials evaluated; a ≥ 1e-12, b ≥ 0 enforced).

        Outside ``iso_range`` the polynomials extrapolate.
        """
        from numpy.polynomial import polynomial as P

        a = [max(float(P.polyval(float(iso), c)), 1e-12) for c in self.shot]
        b = [max(float(P.polyval(float(iso), c)), 0.0) for c in self.read]
        shot: Any = a[0] if len(a) == 1 else tuple(a)
        read: Any = b[0] if len(b) == 1 else tuple(b)
        if isinstance(shot, tuple) != isinstance(read, tuple):
            shot = shot if isinstance(shot, tuple) else (shot,) * 4
            read = read if isinstance(read, tuple) else (read,) * 4
        return NoiseParams(shot, read)

    @classmethod
    def fit(
        cls,
        points: Iterable[tuple[float, NoiseParams]],
        *,
        name: str,
        shot_degree: int = 1,
        read_degree: int = 2,
        per_channel: bool = False,
        make: str | None = None,
        model: str | None = None,
        description: str = "",
    ) -> IsoNoiseModel:
        """Least-squares polynomial fits of ``a(ISO)`` and ``b(ISO)`` to measured points.

        Degrees drop to the number of distinct ISOs − 1. With a single ISO the model scales like
        an analogue gain: ``a ∝ ISO`` and ``b ∝ ISO²`` (all noise before the amplifier) — an
        assumption, flagged by ``iso_range`` being that single ISO.
        """
        pts = sorted(((float(i), p) for i, p in points), key=lambda t: t[0])
        if not pts:
            raise ValueError("IsoNoiseModel.fit: no points")
        isos = np.array([i for i, _ in pts])
        nch = 4 if per_channel else 1
        shot_v = np.array([p.shot4() if per_channel else (p.mean().shot,) for _, p in pts])
        read_v = np.array([p.read4() if per_channel else (p.mean().read,) for _, p in pts])
        n_iso = len(np.unique(isos))
        shot_c: list[tuple[float, ...]] = []
        read_c: list[tuple[float, ...]] = []
        for c in range(nch):
            if n_iso == 1:
                iso0 = isos[0]
                shot_c.append((0.0, float(np.mean(shot_v[:, c]) / iso0)))
                read_c.append((0.0, 0.0, float(np.mean(read_v[:, c]) / iso0**2)))
            else:
                sd = min(shot_degree, n_iso - 1)
                rd = min(read_degree, n_iso - 1)
                shot_c.append(tuple(np.polynomial.polynomial.polyfit(isos, shot_v[:, c], sd)))
                read_c.append(tuple(np.polynomial.polynomial.polyfit(isos, read_v[:, c], rd)))
        return cls(
            name=name,
            shot=tuple(shot_c),
            read=tuple(read_c),
            iso_range=(float(isos.min()), float(isos.max())),
            make=make,
            model=model,
            description=description,
            points=tuple(pts),
        )

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def vals(v: float | tuple[float, ...]) -> list[float]:
            return list(v) if isinstance(v, tuple) else [v]

        return {
            "schema": PROFILE_SCHEMA,
            "version": PROFILE_VERSION,
            "name": self.name,
            "make": self.make,
            "model": self.model,
            "description": self.description,
            "units": "normalized",
            "iso_range": list(self.iso_range),
            "shot": [list(c) for c in self.shot],
            "read": [list(c) for c in self.read],
            "points": [
                {"iso": iso, "shot": vals(p.shot), "read": vals(p.read)} for iso, p in self.points
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IsoNoiseModel:
        if d.get("schema") != PROFILE_SCHEMA:
            raise ValueError(f"not a rawpipe noise profile (schema {d.get('schema')!r})")
        if int(d.get("version", -1)) != PROFILE_VERSION:
            raise ValueError(
                f"noise profile version {d.get('version')!r} not supported "
                f"(expected {PROFILE_VERSION})"
            )
        if d.get("units", "normalized") != "normalized":
            raise ValueError(f"noise profile units {d.get('units')!r}: only 'normalized'")
        points = tuple(
            (float(p["iso"]), NoiseParams(_unlist(p["shot"]), _unlist(p["read"])))
            for p in d.get("points", [])
        )
        return cls(
            name=str(d["name"]),
            shot=d["shot"],
            read=d["read"],
            iso_range=tuple(d["iso_range"]),  # type: ignore[arg-type]
            make=d.get("make"),
            model=d.get("model"),
            description=str(d.get("description", "")),
            points=points,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> IsoNoiseModel:
        return cls.from_dict(json.loads(text))


def _unlist(v: Sequence[float] | float) -> Any:
    if isinstance(v, (int, float)):
        return float(v)
    return float(v[0]) if len(v) == 1 else tuple(float(e) for e in v)


def save_profile(
    model: IsoNoiseModel, path: str | os.PathLike[str], *, overwrite: bool = True
) -> Path:
    """Write ``model`` as JSON to ``path`` (atomically)."""
    from rawpipe._atomic import atomic_write_bytes

    return atomic_write_bytes(path, model.to_json().encode(), overwrite=overwrite)


def _package_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "profiles"


def list_profiles() -> list[str]:
    """Names of the profiles shipped in ``rawpipe/profiles/``."""
    return sorted(p.stem for p in _package_dir().glob("*.json"))


def load_profile(name_or_path: str | os.PathLike[str]) -> IsoNoiseModel:
    """Load a profile by package name (``"pmrid-phone"``, ``"nikon-d5000"``) or from a JSON path."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        if not p.is_file():
            raise FileNotFoundError(f"noise profile {p} not found")
        return IsoNoiseModel.from_json(p.read_text())
    pkg = _package_dir() / f"{name_or_path}.json"
    if not pkg.is_file():
        raise FileNotFoundError(
            f"no packaged noise profile {str(name_or_path)!r}; available: {list_profiles()}"
        )
    return IsoNoiseModel.from_json(pkg.read_text())


def _norm(s: str | None) -> str:
    return " ".join((s or "").lower().replace("corporation", "").replace(",", " ").split())


def find_profile(make: str | None, model: str | None) -> IsoNoiseModel | None:
    """The packaged profile for a camera (case-insensitive; "NIKON CORPORATION" matches "Nikon";
    a model with the make repeated, "NIKON D5000", matches "D5000"), or ``None``."""
    mk, md = _norm(make), _norm(model)
    if not md:
        return None
    for name in list_profiles():
        prof = load_profile(name)
        pmk, pmd = _norm(prof.make), _norm(prof.model)
        if not pmd:
            continue
        make_ok = not pmk or not mk or pmk in mk or mk in pmk
        model_ok = md == pmd or md.endswith(" " + pmd) or pmd.endswith(" " + md)
        if make_ok and model_ok:
            return prof
    return None


def pmrid_phone_model() -> IsoNoiseModel:
    """The PMRID phone sensor (Wang et al. 2020) converted to normalised units.

    ``a(ISO) = k(ISO)/959`` and ``b(ISO) = s(ISO)/959²`` with k, s the paper's DN fits of a 10-bit
    sensor (white − black = 959): ISO 100 a ≈ 7.2e-5, b ≈ 2.0e-7; ISO 1600 a ≈ 1.0e-3, b ≈ 3.2e-6;
    ISO 6400 a ≈ 4.0e-3, b ≈ 3.6e-5.
    """
    r = PMRID_RANGE_DN
    return IsoNoiseModel(
        name="pmrid-phone",
        shot=(tuple(c / r for c in PMRID_K_DN),),
        read=(tuple(c / r**2 for c in PMRID_S_DN),),
        iso_range=(100.0, 6400.0),
        description=(
            "PMRID (Wang et al., ECCV 2020) phone sensor: k(ISO) = 5.995e-4*ISO + 8.689e-3, "
            "s(ISO) = 7.11772e-7*ISO^2 + 6.514934e-4*ISO + 0.11492713 in DN of a 10-bit sensor "
            "(white - black = 959), divided by 959 and 959^2. ISO range: the levels PMRID "
            "trains on."
        ),
    )
