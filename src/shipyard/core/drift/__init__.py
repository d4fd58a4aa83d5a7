"""Pure drift statistics: PSI, KS, chi-square, Jensen-Shannon, Holm correction (scipy imported lazily)."""

from shipyard.core.drift.base import Binned, DriftResult, DriftTest, Sample
from shipyard.core.drift.chi2 import Chi2DriftTest, chi2
from shipyard.core.drift.correction import holm_bonferroni
from shipyard.core.drift.factory import TESTS, create
from shipyard.core.drift.jensenshannon import JensenShannonDriftTest, js_distance
from shipyard.core.drift.ks import KsDriftTest, ks, ks_binned
from shipyard.core.drift.psi import PsiDriftTest, category_psi, psi, psi_from_edges

__all__ = [
    "TESTS",
    "Binned",
    "Chi2DriftTest",
    "DriftResult",
    "DriftTest",
    "JensenShannonDriftTest",
    "KsDriftTest",
    "PsiDriftTest",
    "Sample",
    "category_psi",
    "chi2",
    "create",
    "holm_bonferroni",
    "js_distance",
    "ks",
    "ks_binned",
    "psi",
    "psi_from_edges",
]
