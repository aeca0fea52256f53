"""Load forecasting: features, the XGBoost quantile model, its backtest and the live prediction.

XGBoost's OpenMP threads spin while they wait for each other by default; on a machine whose
cores are shared (here: two, with other services and jobs), a spinning thread holds a core
its partner needs, and training ran 20-50 times slower than single-threaded. Passive
waiting (set before XGBoost loads its OpenMP runtime; an explicit setting wins) removes that.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
