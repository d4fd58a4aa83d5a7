"""A synthetic drift scenario with known answers: 15 numeric and 5 category columns, 1% missing, drift in 5.

The acceptance tests of issue 16 and ``bench/drift`` share it, so the benchmark measures exactly what the
tests prove. The drifted columns (``DRIFTED``) change by amounts that matter but are small:

* ``num_shift``: a normal column, mean + 0.2 sd;
* ``num_wide``: a normal column, sd x 1.5;
* ``lognormal_shift``: a lognormal column moved by + 0.2 of its sd;
* ``num_narrow``: a normal column, sd x 0.75;
* ``cat_flat``: five categories with shares 40/30/15/10/5%, halfway flattened towards uniform.

The clean columns are of many shapes (normal at several scales, lognormal, exponential, uniform,
bimodal, integer counts, heavy-tailed Student t) and categories of 2 to 30 labels, so a method that
flags skewed, discrete or heavy-tailed data by accident shows up. Everything is vectorised NumPy.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

NULL_RATE = 0.01
DRIFTED = ("num_shift", "num_wide", "lognormal_shift", "num_narrow", "cat_flat")
_CAT5 = np.array([0.40, 0.30, 0.15, 0.10, 0.05])
_LOGNORMAL_SIGMA = 0.5
_LOGNORMAL_SD = float(np.sqrt((np.exp(_LOGNORMAL_SIGMA**2) - 1) * np.exp(_LOGNORMAL_SIGMA**2)))


def _numeric(rng: np.random.Generator, n: int, drift: bool) -> dict[str, np.ndarray]:
    shift = 0.2 if drift else 0.0
    cols = {
        "num_shift": rng.normal(50.0 + shift * 10.0, 10.0, n),
        "num_wide": rng.normal(0.0, 1.5 if drift else 1.0, n),
        "lognormal_shift": rng.lognormal(0.0, _LOGNORMAL_SIGMA, n) + shift * _LOGNORMAL_SD,
        "num_narrow": rng.normal(100.0, 0.75 * 20.0 if drift else 20.0, n),
        "normal_small": rng.normal(0.0, 0.01, n),
        "normal_large": rng.normal(1e6, 2.5e5, n),
        "lognormal": rng.lognormal(3.0, 1.0, n),
        "exponential": rng.exponential(2.0, n),
        "uniform": rng.uniform(-5.0, 5.0, n),
        "bimodal": np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n), rng.normal(3.0, 1.0, n)),
        "counts": rng.poisson(3.0, n).astype(np.float64),
        "student_t": rng.standard_t(3.0, n),
        "beta": rng.beta(2.0, 5.0, n),
        "gamma": rng.gamma(2.0, 3.0, n),
        "integers": rng.integers(0, 1000, n).astype(np.float64),
    }
    return cols


def _categorical(rng: np.random.Generator, n: int, drift: bool) -> dict[str, pa.Array]:
    uniform = np.full(_CAT5.size, 1.0 / _CAT5.size)
    flat = (_CAT5 + uniform) / 2 if drift else _CAT5
    specs = {
        "cat_flat": flat,
        "cat_binary": np.array([0.7, 0.3]),
        "cat_five": _CAT5,
        "cat_ten": np.linspace(1.0, 2.0, 10) / np.linspace(1.0, 2.0, 10).sum(),
        "cat_thirty": (1.0 / np.arange(1, 31)) / (1.0 / np.arange(1, 31)).sum(),
    }
    out = {}
    for name, shares in specs.items():
        codes = rng.choice(shares.size, n, p=shares).astype(np.int32)
        labels = pa.array([f"{name[4:]}_{i}" for i in range(shares.size)], pa.string())
        out[name] = pa.DictionaryArray.from_arrays(pa.array(codes), labels).cast(pa.string())
    return out


def scenario(rows: int, seed: int, *, drift: bool) -> pa.Table:
    """One data set of the scenario: the reference (``drift=False``) or the current data (``drift=True``).

    Use different seeds for reference and current, so clean columns differ by sampling noise only.
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    for name, values in _numeric(rng, rows, drift).items():
        columns[name] = pa.array(values, mask=rng.random(rows) < NULL_RATE)
    for name, arr in _categorical(rng, rows, drift).items():
        mask = pa.array(rng.random(rows) < NULL_RATE)
        columns[name] = pa.compute.if_else(mask, pa.scalar(None, pa.string()), arr)
    return pa.table(columns)
