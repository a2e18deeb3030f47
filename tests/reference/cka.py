# Reference values for eval::similarity (run: python tests/reference/cka.py; numpy).
# The debiased CKA from the Gram-form unbiased HSIC of Song et al. (2012), written
# independently of the feature-space form the Rust code uses, on fixed arrays both
# sides build from the same formula.
import numpy as np


def arrays(n, p, q):
    i = np.arange(n)[:, None]
    x = np.sin(0.37 * i * (np.arange(p)[None, :] + 1) + 0.1) + 0.05 * i / n
    y = np.cos(0.23 * i * (np.arange(q)[None, :] + 2)) + np.tanh(x[:, :1]) * (np.arange(q)[None, :] % 3)
    return x, y


def hsic_unbiased(k, l):
    n = k.shape[0]
    k = k - np.diag(np.diag(k))
    l = l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def cka_debiased(x, y):
    k, l = x @ x.T, y @ y.T
    return hsic_unbiased(k, l) / np.sqrt(hsic_unbiased(k, k) * hsic_unbiased(l, l))


def cka_biased(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


for n, p, q in [(40, 6, 9), (25, 50, 30)]:
    x, y = arrays(n, p, q)
    print(n, p, q, "debiased", repr(float(cka_debiased(x, y))), "biased", repr(float(cka_biased(x, y))))
