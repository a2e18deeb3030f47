# Reference values for report::equivalence (run: python tests/reference/equivalence.py;
# statsmodels + scipy).
import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

print("statsmodels", statsmodels.__version__, "scipy", scipy.__version__)
x1 = np.array([0.811, 0.824, 0.806, 0.83, 0.819])
x2 = np.array([0.809, 0.82, 0.81, 0.826, 0.815])
for m in [0.01, 0.005, 0.02]:
    p, low, upp = ttost_paired(x1, x2, -m, m)
    print("tost", m, repr(float(p)), "lower", repr(float(low[1])))
for n in [2, 3, 5, 10, 30]:
    print("solve_power", n, repr(float(TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8))))
print("nct", repr(float(stats.nct.cdf(1.5, 4, 0.8))), repr(float(stats.nct.cdf(-2.0, 1, 1.0))))
# Power at a given effect size (what the solver inverts); statsmodels' solve_power
# stops its root search at power 0.80000005 for n = 2 (ttest_power of its answer).
from statsmodels.stats.power import ttest_power
for d, n in [(1.0, 5), (0.5, 10), (3.0, 3)]:
    print("ttest_power", d, n, repr(float(ttest_power(d, n, 0.05))))
print("power at solve_power(n=2)", repr(float(ttest_power(11.549889754978167, 2, 0.05))))
