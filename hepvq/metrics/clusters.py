"""The one pixel clusterer of hepvq (connected components, 8-connectivity as in CMS), cluster observables on
flat arrays and the point-to-cluster matcher. Used by the simulator validation (hepvq.sim.clusters re-exports
it) and by the premixing validation (hepvq.validation).

    cid = find_clusters(detId, row, col, adc)           # cluster id per hit, 0..n_clusters-1
    tab = cluster_table(detId, row, col, adc, cid)      # per-cluster arrays (charge, size, sizes, centroid...)

Several events at once: pass a module key that also encodes the event (``module_key(event_index, detId)``),
or use ``find_clusters_events(digis)`` on a jagged ``PixelDigi`` array.

Vectorised: hits are sorted by (module, row, col); neighbour pairs over the half-stencil
{(0,+1), (+1,-1), (+1,0), (+1,+1)} are found with ``searchsorted``; the connected components of that graph
come from scipy.sparse.csgraph when available, else from a numpy min-label propagation with pointer jumping.
Cluster ids are numbered in the order of each cluster's first hit in (module, row, col) order.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

def module_key(event_index, detid):
    """int64 key combining an event index and a detId (for clustering several events at once)."""
    return (np.asarray(event_index, dtype=np.int64) << 32) | np.asarray(detid, dtype=np.int64)


def _components(n, a, b):
    if a.size == 0:
        return np.arange(n)
    try:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        g = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
        _, lab = connected_components(g, directed=False)
        return lab
    except ImportError:  # pragma: no cover - numpy fallback
        lab = np.arange(n)
        while True:
            m = np.minimum(lab[a], lab[b])
            new = lab.copy()
            np.minimum.at(new, a, m)
            np.minimum.at(new, b, m)
            new = new[new]
            while True:
                nn = new[new]
                if np.array_equal(nn, new):
                    break
                new = nn
            if np.array_equal(new, lab):
                return lab
            lab = new


def find_clusters(detId, row, col, adc=None):
    """Cluster id (int64, 0..n-1) for every hit; hits touching by a side or a corner (8-connectivity) in the
    same module share an id.  ``detId`` may be any integer module key (see ``module_key``).  ``adc`` is not
    needed for the topology and accepted for symmetry with the other helpers."""
    key = np.asarray(detId).astype(np.int64)
    row = np.asarray(row).astype(np.int64)
    col = np.asarray(col).astype(np.int64)
    n = key.size
    if n == 0:
        return np.zeros(0, np.int64)
    # dense re-index of keys so codes fit in int64
    ukeys, kidx = np.unique(key, return_inverse=True)
    code = (kidx.astype(np.int64) << 34) | ((row + 1) << 17) | (col + 1)
    order = np.argsort(code, kind="stable")
    sc = code[order]
    src, dst = [], []
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        target = sc + (dr << 17) + dc
        pos = np.searchsorted(sc, target)
        pos_c = np.minimum(pos, n - 1)
        hit = sc[pos_c] == target
        src.append(np.nonzero(hit)[0])
        dst.append(pos_c[hit])
    a = np.concatenate(src)
    b = np.concatenate(dst)
    lab = _components(n, a, b)            # labels in sorted order
    # renumber by first appearance in sorted order
    first = np.full(lab.max() + 1, n, np.int64)
    np.minimum.at(first, lab, np.arange(n))
    rank = np.argsort(np.argsort(first[np.unique(lab)]))
    remap = np.empty(lab.max() + 1, np.int64)
    remap[np.unique(lab)] = rank
    out = np.empty(n, np.int64)
    out[order] = remap[lab]
    return out


def cluster_table(detId, row, col, adc, cid=None, electrons_per_adc=None):
    """Per-cluster observables (dict of arrays indexed by cluster id):

    ``detId`` (module key), ``n_pix``, ``charge`` (sum of adc, or electrons when ``electrons_per_adc`` is given:
    (adc + 0.5) x gain per pixel), ``size_x`` (extent in rows), ``size_y`` (extent in cols), ``row``/``col``
    (charge-weighted centroid, pixel-centre units: pixel i spans [i, i+1), so the centre is i + 0.5),
    ``row_min``, ``row_max``, ``col_min``, ``col_max``.
    """
    key = np.asarray(detId).astype(np.int64)
    row = np.asarray(row).astype(np.int64)
    col = np.asarray(col).astype(np.int64)
    q = np.asarray(adc).astype(np.float64)
    if electrons_per_adc is not None:
        q = (q + 0.5) * electrons_per_adc
    if cid is None:
        cid = find_clusters(key, row, col)
    nc = int(cid.max()) + 1 if cid.size else 0
    npix = np.bincount(cid, minlength=nc)
    charge = np.bincount(cid, weights=q, minlength=nc)
    rmin = np.full(nc, np.iinfo(np.int64).max)
    rmax = np.full(nc, -1)
    cmin = np.full(nc, np.iinfo(np.int64).max)
    cmax = np.full(nc, -1)
    np.minimum.at(rmin, cid, row)
    np.maximum.at(rmax, cid, row)
    np.minimum.at(cmin, cid, col)
    np.maximum.at(cmax, cid, col)
    dkey = np.zeros(nc, np.int64)
    dkey[cid] = key
    with np.errstate(invalid="ignore", divide="ignore"):
        rc = np.bincount(cid, weights=q * (row + 0.5), minlength=nc) / charge
        cc = np.bincount(cid, weights=q * (col + 0.5), minlength=nc) / charge
    return {
        "detId": dkey, "n_pix": npix, "charge": charge, "size_x": rmax - rmin + 1, "size_y": cmax - cmin + 1,
        "row": rc, "col": cc, "row_min": rmin, "row_max": rmax, "col_min": cmin, "col_max": cmax,
    }


def cluster_charge(cid, adc, electrons_per_adc=None):
    q = np.asarray(adc, np.float64)
    if electrons_per_adc is not None:
        q = (q + 0.5) * electrons_per_adc
    return np.bincount(cid, weights=q)


def cluster_size(cid):
    return np.bincount(cid)


def cluster_centroid(cid, row, col, adc):
    w = np.asarray(adc, np.float64)
    s = np.bincount(cid, weights=w)
    return (np.bincount(cid, weights=w * (np.asarray(row) + 0.5)) / s,
            np.bincount(cid, weights=w * (np.asarray(col) + 0.5)) / s)


def find_clusters_events(digis):
    """Jagged cluster ids (per event, numbered from 0 in each event) for a jagged PixelDigi array."""
    counts = ak.num(digis).to_numpy()
    ev = np.repeat(np.arange(counts.size), counts)
    flat = ak.flatten(digis)
    cid = find_clusters(module_key(ev, ak.to_numpy(flat.detId)), ak.to_numpy(flat.row), ak.to_numpy(flat.col))
    # clusters are numbered in (event, ...) order -> subtract each event's first id
    first = np.zeros(counts.size, np.int64)
    if cid.size:
        mins = np.full(counts.size, np.iinfo(np.int64).max)
        np.minimum.at(mins, ev, cid)
        first = np.where(counts > 0, mins, 0)
    return ak.unflatten(cid - first[ev], counts)


def cluster_events(digis, electrons_per_adc=None):
    """Cluster table over all events of a jagged PixelDigi array, with an extra ``event`` index per cluster."""
    counts = ak.num(digis).to_numpy()
    ev = np.repeat(np.arange(counts.size), counts)
    flat = ak.flatten(digis)
    det = ak.to_numpy(flat.detId).astype(np.int64)
    key = module_key(ev, det)
    cid = find_clusters(key, ak.to_numpy(flat.row), ak.to_numpy(flat.col))
    tab = cluster_table(key, ak.to_numpy(flat.row), ak.to_numpy(flat.col), ak.to_numpy(flat.adc), cid,
                        electrons_per_adc)
    tab["event"] = tab["detId"] >> 32
    tab["detId"] = (tab["detId"] & 0xFFFFFFFF).astype(np.uint32)
    return tab, cid


def match_points(hit_key, hit_row, hit_col, cid, pt_key, pt_row, pt_col, search: int = 1):
    """Cluster id containing the pixel under each point (float row/col in pixel units), or the cluster of the
    nearest fired pixel within +-``search`` pixels; -1 where none.  Vectorised lookups via searchsorted.

    Typical use: match simulated crossings (Truth x/y, shifted by the Lorentz drift) to clusters."""
    hk = np.asarray(hit_key).astype(np.int64)
    if hk.size == 0:
        return np.full(np.size(pt_key), -1, np.int64)
    ukeys = np.unique(hk)
    kidx = np.searchsorted(ukeys, hk)
    code = (kidx << 34) | ((np.asarray(hit_row, np.int64) + 1) << 17) | (np.asarray(hit_col, np.int64) + 1)
    order = np.argsort(code)
    sc = code[order]
    scid = np.asarray(cid)[order]
    pk = np.asarray(pt_key).astype(np.int64)
    pki = np.searchsorted(ukeys, pk)
    pki_c = np.minimum(pki, ukeys.size - 1)
    known = ukeys[pki_c] == pk
    r0 = np.floor(np.asarray(pt_row, np.float64)).astype(np.int64)
    c0 = np.floor(np.asarray(pt_col, np.float64)).astype(np.int64)
    out = np.full(pk.size, -1, np.int64)
    best = np.full(pk.size, np.inf)
    offs = sorted(((dr, dc) for dr in range(-search, search + 1) for dc in range(-search, search + 1)),
                  key=lambda o: o[0] ** 2 + o[1] ** 2)
    for dr, dc in offs:
        d2 = dr * dr + dc * dc
        todo = np.nonzero(known & (best > d2) & (out < 0))[0]
        if todo.size == 0:
            break
        r = r0[todo] + dr
        c = c0[todo] + dc
        ok = (r >= 0) & (c >= 0)
        target = (pki_c[todo] << 34) | ((r + 1) << 17) | (c + 1)
        pos = np.minimum(np.searchsorted(sc, target), sc.size - 1)
        hit = ok & (sc[pos] == target)
        out[todo[hit]] = scid[pos[hit]]
        best[todo[hit]] = d2
    return out
