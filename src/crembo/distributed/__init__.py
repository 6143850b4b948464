"""CREMBO on Dask: beliefs over chunked data, the threshold scan on a cluster, and the whole fit
on rows that no single machine holds.

Needs the optional extra ``pip install "crembo[dask]"`` (dask[array] and distributed).

- ``belief_from_dask(model, X)``: the teacher's belief over a dask array or dataframe, lazily.
- ``fit_on_dask(estimator, X, y, client)``: a local fit whose ``joblib.Parallel`` work (the
  threshold scan) runs on the cluster; X and y are numpy arrays on the client.
- ``fit_distributed(estimator, X, y, client)``: X and y are dask collections partitioned across
  the workers and stay there: beliefs, bin edges (a mergeable quantile summary), per-node label
  histograms and consistency counts are computed next to the partitions; only small summaries
  reach the client, which runs MEMO and the scan over them. See docs/distributed.md.
- ``predict(estimator, X)``: lazy predictions over a dask array or dataframe.
"""

from crembo.distributed._beliefs import belief_from_dask, dask_backend, fit_on_dask
from crembo.distributed._fit import fit_distributed, predict

__all__ = ["belief_from_dask", "dask_backend", "fit_distributed", "fit_on_dask", "predict"]
