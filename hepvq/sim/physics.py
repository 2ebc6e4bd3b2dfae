"""Physics helpers shared by the pixel and TPC simulators.

Everything here is vectorised numpy; random numbers always come from a ``numpy.random.Generator``
passed in by the caller (one generator per event, derived from ``(seed, event number)``), so the
simulators are deterministic and chunk-invariant.

Contents
--------
* ``event_rng(seed, event)`` - the per-event generator.
* ``TsallisPt`` - Tsallis/Levy transverse-momentum spectrum (CMS, JHEP 05 (2011) 064 / PRL 105 (2010)
  022002 use this form for minimum-bias pp), sampled through an inverse-CDF table.
* ``sample_eta`` - pseudorapidity from a tabulated dN/deta shape.
* ``Landau`` - standard Landau sampler (scipy.stats.landau inverse CDF tabulated once, with a
  Moyal fallback when scipy is too old) and the Bichsel/PDG most-probable-value formula in silicon.
* ``helix_*`` - helices in a uniform solenoidal field along z.
"""
from __future__ import annotations

import functools

import numpy as np

C_LIGHT = 0.299792458  # GeV / (T m)
M_E_MEV = 0.51099895
MASS_PION = 0.13957
MASS_KAON = 0.49368
MASS_PROTON = 0.93827


def event_rng(seed: int, event: int) -> np.random.Generator:
    """Independent generator for one event: the stream depends only on (seed, event number)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(event) & 0xFFFFFFFFFFFF, 0x4E50])


# ----------------------------------------------------------------------------------------------
# Spectra
# ----------------------------------------------------------------------------------------------
class TsallisPt:
    """Tsallis (Levy) spectrum  dN/dpT ~ pT * (1 + (mT - m) / (n T))^-n  for pions.

    Defaults n = 6.6, T = 0.142 GeV give <pT> ~ 0.50 GeV for pT > 0 (cf. CMS minimum-bias 13 TeV,
    <pT> ~ 0.5 GeV; ATLAS, EPJC 76 (2016) 403), with ~ 8 % of tracks below 0.1 GeV (the loopers).
    """

    def __init__(self, n: float = 6.6, T: float = 0.142, mass: float = MASS_PION, pt_max: float = 50.0):
        self.n, self.T, self.mass = n, T, mass
        pt = np.concatenate([np.linspace(0.0, 2.0, 4001), np.geomspace(2.0005, pt_max, 2000)])
        mt = np.sqrt(pt**2 + mass**2)
        pdf = pt * (1.0 + (mt - mass) / (n * T)) ** (-n)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(pt))])
        self.mean = float(np.sum(0.5 * (pdf[1:] * pt[1:] + pdf[:-1] * pt[:-1]) * np.diff(pt)) / cdf[-1])
        self._cdf = cdf / cdf[-1]
        self._pt = pt

    def sample(self, rng: np.random.Generator, n: int, pt_min: float = 0.0) -> np.ndarray:
        u0 = np.interp(pt_min, self._pt, self._cdf)
        u = u0 + (1.0 - u0) * rng.random(n)
        return np.interp(u, self._cdf, self._pt)

    def fraction_below(self, pt: float) -> float:
        return float(np.interp(pt, self._pt, self._cdf))


def dndeta_pp(eta: np.ndarray, dndeta0: float = 5.5) -> np.ndarray:
    """Minimum-bias pp dNch/deta shape: 5.5 at |eta| < 0.5 (CMS, PLB 751 (2015) 143, 13 TeV inelastic),
    a shallow rise to ~ +10 % at |eta| ~ 2 and a fall beyond |eta| ~ 3."""
    e = np.abs(eta)
    return dndeta0 * (1.0 + 0.025 * e**2) / (1.0 + np.exp((e - 4.5) / 0.6))


def dndeta_auau(eta: np.ndarray, dndeta0: float = 690.0) -> np.ndarray:
    """Au+Au 200 GeV: plateau over |eta| < 1 then a slow fall (PHOBOS, PRL 91 (2003) 052303)."""
    e = np.abs(eta)
    return dndeta0 / (1.0 + np.exp((e - 3.4) / 0.8)) * (1 + np.exp(-3.4 / 0.8))


@functools.lru_cache(maxsize=16)
def _eta_table(kind: str, eta_max: float):
    eta = np.linspace(-eta_max, eta_max, 2001)
    f = dndeta_pp(eta, 1.0) if kind == "pp" else dndeta_auau(eta, 1.0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(eta))])
    integral = cdf[-1]
    return eta, cdf / cdf[-1], integral


def eta_integral(kind: str, eta_max: float) -> float:
    """Integral of the unit-normalised dN/deta shape over |eta| < eta_max (multiply by dN/deta(0))."""
    return _eta_table(kind, float(eta_max))[2]


def sample_eta(rng: np.random.Generator, n: int, kind: str = "pp", eta_max: float = 3.0) -> np.ndarray:
    eta, cdf, _ = _eta_table(kind, float(eta_max))
    return np.interp(rng.random(n), cdf, eta)


def sample_species_mass(rng: np.random.Generator, n: int, fractions=(0.82, 0.12, 0.06)) -> np.ndarray:
    """Charged-hadron masses: pi/K/p fractions ~ 82/12/6 % (ALICE, EPJC 75 (2015) 226 ratios)."""
    u = rng.random(n)
    m = np.full(n, MASS_PION)
    m[u > fractions[0]] = MASS_KAON
    m[u > fractions[0] + fractions[1]] = MASS_PROTON
    return m


# ----------------------------------------------------------------------------------------------
# Landau
# ----------------------------------------------------------------------------------------------
# scipy.stats.landau is the 1-stable law in Nolan's S1 parametrisation: scale c = (pi/2) * xi (xi the
# Landau width of the classic parametrisation), mode at -0.4293 c + loc, FWHM = 2.558 c = 4.018 xi.
LANDAU_MODE = -0.42930
LANDAU_FWHM = 2.5583


_LANDAU_T_MAX = 18.0          # t = -ln(1 - u): tabulated up to u = 1 - 1.5e-8
_LANDAU_N = 1 << 16


@functools.lru_cache(maxsize=1)
def _landau_table():
    """Inverse CDF of the standard Landau on a uniform grid in t = -ln(1 - u) (fast direct-index lookup)."""
    t = np.linspace(0.0, _LANDAU_T_MAX, _LANDAU_N + 1)
    u = -np.expm1(-t)
    u[0] = 1e-12
    try:
        from scipy.stats import landau

        x = landau.ppf(u)
    except Exception:  # scipy < 1.15: Moyal approximation of the Landau, matched in mode and FWHM
        from scipy.stats import moyal

        x = moyal.ppf(u) / 3.5907 * LANDAU_FWHM + LANDAU_MODE   # Moyal: mode 0, FWHM 3.5907
    return t, u, x


def landau_standard(rng: np.random.Generator, n: int, x_max=None) -> np.ndarray:
    """Standard Landau (scipy convention) by inverse-CDF interpolation; optionally truncated at x_max
    (a scalar or an array of n values)."""
    t, u, x = _landau_table()
    r = rng.random(n)
    if x_max is not None:                      # scalar or one value per draw
        r *= np.interp(x_max, x, u)
    tt = -np.log1p(-r) * (_LANDAU_N / _LANDAU_T_MAX)
    np.minimum(tt, _LANDAU_N - 1e-9, out=tt)
    i = tt.astype(np.int64)
    f = tt - i
    return x[i] + f * (x[i + 1] - x[i])


def landau_sum_loc(loc_total: np.ndarray, scale_total: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Location of each of n iid Landau pieces (scale scale_total/n) whose sum is Landau(loc_total, scale_total).

    1-stable law: sum of n iid L(l, c) is L(n l + (2/pi) n c ln n, n c)."""
    return (loc_total - (2.0 / np.pi) * scale_total * np.log(n)) / n


def silicon_landau(path_um: np.ndarray, beta_gamma: np.ndarray, mpv_ref_e: float = 21500.0,
                   t_ref_um: float = 285.0, width_factor: float = 1.25):
    """Most probable value and scipy-Landau scale (electrons) of the energy loss in a silicon path.

    PDG (Review of Particle Physics, sec. 34.2.9) / Bichsel, RMP 60 (1988) 663:
        Delta_p = xi [ ln(2 m c^2 b^2 g^2 / I) + ln(xi / I) + 0.200 - b^2 - delta ],
        xi = (K/2) (Z/A) rho x / b^2 = 17.8 eV/um / b^2 in silicon, I = 173 eV.
    The bracket is normalised so that a relativistic track (b g = 10, typical of the few-GeV tracks of the
    measurements) in t_ref_um gives mpv_ref_e (21.5 ke in 285 um: CMS measures 21-22 ke, JINST 9 (2014)
    P10009); b g is capped at 10 in the log (density effect: the MPV rises only ~5 % from minimum ionisation
    to the plateau). width_factor > 1 widens the Landau (measured thin-silicon distributions are wider than xi
    predicts, Bichsel).
    """
    I_eV = 173.0
    bg = np.clip(beta_gamma, 0.05, None)
    b2 = bg**2 / (1 + bg**2)
    bgc = np.minimum(bg, 10.0)
    xi_eV = 17.82 * path_um / b2

    def bracket(xi, b2_, bg_):
        return np.log(2 * M_E_MEV * 1e6 * bg_**2 / I_eV) + np.log(xi / I_eV) + 0.200 - b2_

    bg0 = 10.0
    b20 = bg0**2 / (1 + bg0**2)
    xi0 = 17.82 * t_ref_um / b20
    norm = mpv_ref_e * 3.62 / (xi0 * bracket(xi0, b20, bg0))
    mpv_e = xi_eV * bracket(xi_eV, b2, bgc) * norm / 3.62
    xi_e = xi_eV / 3.62 * width_factor
    return np.maximum(mpv_e, 0.2 * xi_e), xi_e * (np.pi / 2)


# ----------------------------------------------------------------------------------------------
# Helices in B = B z
# ----------------------------------------------------------------------------------------------
def helix_radius_cm(pt: np.ndarray, bfield_t: float) -> np.ndarray:
    return 100.0 * pt / (C_LIGHT * bfield_t)


def helix_centres(x0, y0, phi0, q, radius):
    """Centre of the transverse circle; h = -q is the sense of rotation (+1 anticlockwise) for B along +z."""
    h = -np.sign(q).astype(np.float64)
    xc = x0 - h * radius * np.sin(phi0)
    yc = y0 + h * radius * np.cos(phi0)
    return xc, yc, h


def helix_cylinder_phases(xc, yc, h, radius, r, phi0):
    """Turning angles a in [0, 2pi) where the helix circle crosses the cylinder of radius r (two per turn).

    Position at turning angle a: phi(a) = phi0 + h a, x = xc + h R sin phi(a), y = yc - h R cos phi(a).
    Returns (a1, a2, ok) with ok False where the circle never reaches r.
    """
    rho_c = np.hypot(xc, yc)
    psi = np.arctan2(yc, xc)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (r * r - rho_c**2 - radius**2) / (2.0 * h * radius * rho_c)
    ok = np.abs(k) <= 1.0
    s = np.arcsin(np.clip(k, -1.0, 1.0))
    two_pi = 2 * np.pi
    a1 = np.mod(h * (psi + s - phi0), two_pi)
    a2 = np.mod(h * (psi + np.pi - s - phi0), two_pi)
    return np.minimum(a1, a2), np.maximum(a1, a2), ok


def helix_position(xc, yc, h, radius, phi0, z0, sinh_eta, a):
    phi = phi0 + h * a
    return xc + h * radius * np.sin(phi), yc - h * radius * np.cos(phi), z0 + radius * a * sinh_eta, phi


def wrap_pi(x):
    return np.mod(x + np.pi, 2 * np.pi) - np.pi


def beta_gamma(p, mass):
    return p / mass


def circle_plane_phase(xc, yc, h, radius, phi0, a_guess, nx, ny, d):
    """Turning angle near a_guess where the circle crosses the line n.x = d (exact, two-branch choice).

    n.(c + h R (sin phi, -cos phi)) = d  =>  sin(phi - phiL) = (d - n.c) / (h R), phiL = atan2(ny, nx).
    Returns (a, ok).
    """
    phiL = np.arctan2(ny, nx)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (d - (nx * xc + ny * yc)) / (h * radius)
    ok = np.abs(k) <= 1.0
    s = np.arcsin(np.clip(k, -1, 1))
    phi_g = phi0 + h * a_guess
    best = None
    for cand in (phiL + s, phiL + np.pi - s):
        da = h * wrap_pi(cand - phi_g)
        best = da if best is None else np.where(np.abs(da) < np.abs(best), da, best)
    return a_guess + best, ok


__all__ = ["event_rng", "TsallisPt", "dndeta_pp", "dndeta_auau", "eta_integral", "sample_eta", "sample_species_mass",
           "landau_standard", "landau_sum_loc", "silicon_landau", "helix_radius_cm", "helix_centres",
           "helix_cylinder_phases", "helix_position", "circle_plane_phase", "wrap_pi", "LANDAU_MODE", "LANDAU_FWHM"]


def event_chunks(n_events: int, first_event: int, chunk: int):
    """Event-number arrays of consecutive chunks: each event's random stream depends only on
    (seed, event number), so chunking never changes an event."""
    import numpy as _np

    for s in range(0, n_events, chunk):
        yield _np.arange(first_event + s, first_event + min(s + chunk, n_events), dtype=_np.int64)


def run_chunk_tasks(task_fn, tasks, jobs: int = 1):
    """Run task_fn over tasks, in worker processes when jobs > 1, yielding results in task order."""
    if jobs and jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as ex:
            try:
                yield from ex.map(task_fn, tasks)
            except BaseException:  # Ctrl-C, SIGTERM, an error: do not run every queued chunk first
                ex.shutdown(wait=True, cancel_futures=True)
                raise
    else:
        for t in tasks:
            yield task_fn(t)
