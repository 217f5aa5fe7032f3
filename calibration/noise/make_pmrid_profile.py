"""Write the PMRID phone profile (Wang et al., ECCV 2020) as package data.

    .venv/bin/python calibration/noise/make_pmrid_profile.py

Source: the paper's fits in DN of a 10-bit sensor (white - black = 959),
k(ISO) = 5.995e-4*ISO + 8.689e-3 and s(ISO) = 7.11772e-7*ISO^2 + 6.514934e-4*ISO + 0.11492713,
divided by 959 and 959^2 (normalised units). Writes rawpipe/profiles/pmrid-phone.json.
"""

from __future__ import annotations

from pathlib import Path

from rawpipe.noise.profiles import pmrid_phone_model, save_profile

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    model = pmrid_phone_model()
    out = save_profile(model, ROOT / "rawpipe" / "profiles" / "pmrid-phone.json")
    for iso in (100, 1600, 6400):
        p = model.params_at(iso)
        print(f"ISO {iso}: a = {p.shot:.3e}, b = {p.read:.3e}")
    print("wrote", out)


if __name__ == "__main__":
    main()
