# Reference values for report::hypothesis (run: python tests/reference/stats.py; scipy + statsmodels).
from scipy import stats
from statsmodels.stats.multitest import multipletests

r = stats.ttest_rel([0.81, 0.83, 0.82, 0.85], [0.78, 0.80, 0.81, 0.80])
print("ttest_rel", repr(float(r.statistic)), repr(float(r.pvalue)))
ci = r.confidence_interval(0.95)
print("ttest_rel ci", repr(float(ci.low)), repr(float(ci.high)))
r = stats.ttest_ind([0.81, 0.83, 0.82], [0.78, 0.80, 0.77, 0.79], equal_var=False)
print("welch", repr(float(r.statistic)), repr(float(r.pvalue)), repr(float(r.df)))
ci = r.confidence_interval(0.95)
print("welch ci", repr(float(ci.low)), repr(float(ci.high)))
print("holm", [float(x) for x in multipletests([0.01, 0.04, 0.03, 0.005], method="holm")[1]])

# McNemar's exact test = a two-sided binomial test on the discordant pairs.
from statsmodels.stats.contingency_tables import mcnemar
for b, c in [(12, 3), (40, 25), (7, 7), (0, 5)]:
    print("mcnemar", b, c, repr(float(mcnemar([[100, b], [c, 100]], exact=True).pvalue)), repr(float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)))
