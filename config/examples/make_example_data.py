"""Write the example tables of config/examples/own_data.yaml (run once; the outputs are shipped).

    python config/examples/make_example_data.py

``data/fruit.csv``: 300 fruits, four measurements and a species given as text (apple, lemon,
orange), a classification with overlapping classes. ``data/houses.parquet``: 300 houses, four
features and a price (thousands), a smooth nonlinear regression with noise. Both come from
``numpy.random.default_rng(2026)``; the same command writes the same values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"


def fruit(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    """Three species with overlapping weight, diameter, skin roughness and sweetness."""
    means = {
        "apple": (170.0, 7.5, 0.2, 12.0),
        "lemon": (110.0, 6.0, 0.6, 3.0),
        "orange": (150.0, 7.8, 0.7, 9.0),
    }
    spread = np.array([25.0, 0.7, 0.15, 2.0])
    species = rng.choice(list(means), size=n)
    values = np.array([means[s] for s in species]) + rng.normal(0.0, 1.0, (n, 4)) * spread
    return pd.DataFrame(
        {
            "weight_g": values[:, 0].round(1),
            "diameter_cm": values[:, 1].round(2),
            "roughness": values[:, 2].clip(0, 1).round(3),
            "sweetness": values[:, 3].round(1),
            "species": species,
        }
    )


def houses(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    """Price (thousands) from area, rooms, age and distance to the centre, plus noise."""
    area = rng.uniform(30, 200, n)
    rooms = np.clip(np.round(area / 30 + rng.normal(0, 0.7, n)), 1, 8)
    age = rng.uniform(0, 80, n)
    distance = rng.gamma(2.0, 3.0, n)
    price = 2.2 * area + 15 * rooms - 0.02 * (age - 40) ** 2 + 300 * np.exp(-distance / 4)
    price = price + rng.normal(0, 25, n)
    return pd.DataFrame(
        {
            "area_m2": area.round(1),
            "rooms": rooms.astype(int),
            "age_years": age.round(0),
            "distance_km": distance.round(2),
            "price_k": price.round(1),
        }
    )


def main() -> None:
    rng = np.random.default_rng(2026)
    HERE.mkdir(exist_ok=True)
    fruit(rng).to_csv(HERE / "fruit.csv", index=False)
    houses(rng).to_parquet(HERE / "houses.parquet", index=False)
    print(HERE / "fruit.csv", HERE / "houses.parquet")


if __name__ == "__main__":
    main()
