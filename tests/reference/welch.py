# Reference values for report::significance::welch (run: python3 tests/reference/welch.py).
from scipy import stats
r = stats.ttest_ind([0.81, 0.83, 0.82], [0.78, 0.80, 0.77, 0.79], equal_var=False)
print(repr(float(r.statistic)), repr(float(r.pvalue)), repr(float(r.df)))
