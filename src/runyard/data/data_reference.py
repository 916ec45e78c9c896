"""DataReference: a path in a datastore that the compute resolves to a local path."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from runyard.locations import clean_relative
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.spec import DataBinding, DataMode

if TYPE_CHECKING:
    from runyard.data.datastore import Datastore

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _default_name(datastore: Datastore, path: str | None) -> str:
    if not path or path.strip("/") in ("", "."):
        return _UNSAFE.sub("_", datastore.name)
    return _UNSAFE.sub("_", f"{datastore.name}_{path.strip('/')}")


class DataReference:
    """`str(ref)` is `$AZUREML_DATAREFERENCE_<name>`; on the compute that variable holds the local path."""

    def __init__(self, datastore: Datastore, data_reference_name: str | None = None,
                 path_on_datastore: str | None = None, mode: str = "mount", path_on_compute: str | None = None,
                 overwrite: bool = False, _dataset: str = "") -> None:
        from runyard.data.datastore import Datastore

        if not isinstance(datastore, Datastore):
            raise InvalidTypeError("datastore", datastore, "must be a Datastore",
                                   "pass ws.get_default_datastore() or Datastore(ws, name)")
        try:
            self.mode = DataMode(str(mode).lower())
        except ValueError:
            raise InvalidValueError("mode", mode, "is not a data reference mode",
                                    "use 'mount', 'download' or 'upload'") from None
        if path_on_datastore is not None:
            clean_relative(path_on_datastore, "path_on_datastore")  # '/abs' and '..' lead out of the datastore
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite
        self._dataset = _dataset  # set when a Dataset is consumed through this reference
        self.data_reference_name = data_reference_name or _default_name(datastore, path_on_datastore)
        self.to_binding()  # validates the name now, not at submit

    def _with(self, mode: DataMode, path_on_compute: str | None, overwrite: bool | None = None) -> DataReference:
        return DataReference(self.datastore, self.data_reference_name, self.path_on_datastore, mode.value,
                             path_on_compute, self.overwrite if overwrite is None else overwrite, self._dataset)

    def as_mount(self) -> DataReference:
        return self._with(DataMode.MOUNT, None)

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._with(DataMode.DOWNLOAD, path_on_compute, overwrite)

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return self._with(DataMode.UPLOAD, path_on_compute, overwrite)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        joined = "/".join(p.strip("/") for p in (self.path_on_datastore, path) if p)
        return DataReference(self.datastore, data_reference_name, joined or None, self.mode.value)

    def to_binding(self) -> DataBinding:
        return DataBinding(name=self.data_reference_name, datastore=self.datastore.name,
                           datastore_root=str(self.datastore.root), path_on_datastore=self.path_on_datastore or "",
                           mode=self.mode, path_on_compute=self.path_on_compute, overwrite=self.overwrite,
                           dataset=self._dataset)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        return (f"DataReference(datastore={self.datastore.name!r}, path_on_datastore={self.path_on_datastore!r}, "
                f"mode={self.mode.value!r}, name={self.data_reference_name!r})")
