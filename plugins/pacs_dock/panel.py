"""The PACS dock: node chooser with Test connection, study search, studies → series with image
counts, Retrieve (study or series) with progress and Cancel, and the outbox (pending sends, Retry).

Every network call runs on the host's job runner (``host.task_runner``); the widgets only show
results. A retrieval opens its first image as soon as that file is complete and lists the study
in the study browser when it has arrived (through :class:`plugins.api.FileHost`).
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any, TypeVar

from PySide6 import QtCore, QtWidgets

from engine import pacs
from plugins.api import CancelledFn, FileHost, JobRunner, ProgressFn, ViewerHost

ROLE = QtCore.Qt.ItemDataRole.UserRole
METHODS = {"dicomweb": [("WADO-RS", "wadors")], "dimse": [("C-GET", "cget"), ("C-MOVE", "cmove")]}
LABELS = {key: label for pairs in METHODS.values() for label, key in pairs}
RETRIEVE = "pacs.retrieve"


def create_panel(host: ViewerHost) -> QtWidgets.QWidget:
    """The dock's widget (the manifest's panel factory)."""
    return PacsPanel(host)


class PacsPanel(QtWidgets.QWidget):
    """The PACS dock widget. ``config_path`` overrides where the nodes are read (tests)."""

    def __init__(self, host: ViewerHost, config_path: Path | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacs.dock")
        self.host = host
        self.config_path = config_path
        self.config = self._load_config()
        self.runner: JobRunner = host.task_runner(self)
        self.arrived: queue.Queue[tuple[Path, bool, bool]] = queue.Queue()
        self.opened_first = False
        self.retrieved: list[Path] = []
        self.opened_path: Path | None = None  # the image opened while its study arrived
        self.sr_after_open = False  # an SR arrived after that image was opened (reopen it to show its boxes)
        self.last_result: pacs.RetrieveResult | None = None
        self._placed = False
        self._build()
        self.reload_nodes()
        self.refresh_outbox()

    def showEvent(self, event: Any) -> None:
        """The first time the dock is shown, make it a tab of the right-hand column (not a sliver under it)."""
        super().showEvent(event)
        if self._placed:
            return
        self._placed = True
        dock, window = self.parentWidget(), self.host.main_window()
        if not isinstance(dock, QtWidgets.QDockWidget) or window is None or dock.isFloating():
            return
        area = window.dockWidgetArea(dock)
        others = [d for d in window.findChildren(QtWidgets.QDockWidget)
                  if d is not dock and d.parent() is window and not d.isHidden() and not d.isFloating()
                  and window.dockWidgetArea(d) == area]
        if others:
            window.tabifyDockWidget(others[0], dock)
            QtCore.QTimer.singleShot(0, dock.raise_)

    # --- building ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.node = _named(QtWidgets.QComboBox(), "pacs_node")
        self.node.setEditable(True)
        self.node.setToolTip("A configured node, or a URL: dicomweb+https://HOST:PORT/PATH or dimse://AET@HOST:PORT")
        self.node.currentTextChanged.connect(self._node_changed)
        self.test_button = _named(QtWidgets.QPushButton("Test connection"), "pacs_test")
        self.test_button.clicked.connect(self.test_connection)
        self.nodes_button = _named(QtWidgets.QPushButton("Nodes…"), "pacs_nodes")
        self.nodes_button.clicked.connect(self.edit_nodes)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.node, 1)
        row.addWidget(self.test_button)
        row.addWidget(self.nodes_button)

        self.patient_id = _named(QtWidgets.QLineEdit(), "pacs_patient_id")
        self.patient_name = _named(QtWidgets.QLineEdit(), "pacs_patient_name", "DOE^J*")
        self.date_from = _named(QtWidgets.QLineEdit(), "pacs_date_from", "YYYYMMDD")
        self.date_to = _named(QtWidgets.QLineEdit(), "pacs_date_to", "YYYYMMDD")
        self.modality = _named(QtWidgets.QComboBox(), "pacs_modality")
        self.modality.setEditable(True)
        self.modality.addItems(["", "CR", "DX", "CT", "MR", "US", "MG", "PT", "NM", "XA", "SR", "SC"])
        self.accession = _named(QtWidgets.QLineEdit(), "pacs_accession")
        for edit in (self.patient_id, self.patient_name, self.date_from, self.date_to, self.accession):
            edit.returnPressed.connect(self.search)
        dates = QtWidgets.QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QtWidgets.QLabel("–"))
        dates.addWidget(self.date_to)
        form = QtWidgets.QFormLayout()
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)
        form.addRow("Accession", self.accession)
        self.search_button = _named(QtWidgets.QPushButton("Search"), "pacs_search")
        self.search_button.clicked.connect(self.search)

        self.results = _named(QtWidgets.QTreeWidget(), "pacs_results")
        self.results.setHeaderLabels(["Date / series", "Patient", "Description", "Mod.", "Images"])
        self.results.setRootIsDecorated(True)
        self.results.setUniformRowHeights(True)
        self.results.itemExpanded.connect(self._load_series)
        self.results.itemSelectionChanged.connect(self._selection_changed)
        self.results.itemDoubleClicked.connect(lambda *_: self.retrieve())
        header = self.results.header()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)

        self.method = _named(QtWidgets.QComboBox(), "pacs_method")
        self.retrieve_button = _named(QtWidgets.QPushButton("Retrieve"), "pacs_retrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.retrieve_button.setEnabled(False)
        self.cancel_button = _named(QtWidgets.QPushButton("Cancel"), "pacs_cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        actions = QtWidgets.QHBoxLayout()
        actions.addWidget(QtWidgets.QLabel("by"))
        actions.addWidget(self.method)
        actions.addStretch(1)
        actions.addWidget(self.retrieve_button)
        actions.addWidget(self.cancel_button)
        self.progress = _named(QtWidgets.QProgressBar(), "pacs_progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = _named(QtWidgets.QLabel(""), "pacs_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)

        search_tab = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(search_tab)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(form)
        lay.addWidget(self.search_button)
        lay.addWidget(self.results, 1)
        lay.addLayout(actions)
        lay.addWidget(self.progress)

        self.outbox_list = _named(QtWidgets.QTreeWidget(), "pacs_outbox")
        self.outbox_list.setHeaderLabels(["Node", "SOP Instance UID", "Last error"])
        self.outbox_list.setRootIsDecorated(False)
        self.retry_button = _named(QtWidgets.QPushButton("Retry"), "pacs_retry")
        self.retry_button.clicked.connect(self.retry_outbox)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_outbox)
        send = QtWidgets.QPushButton("Send files…")
        send.clicked.connect(self._send_dialog)
        outbox_tab = QtWidgets.QWidget()
        olay = QtWidgets.QVBoxLayout(outbox_tab)
        olay.setContentsMargins(4, 4, 4, 4)
        olay.addWidget(self.outbox_list, 1)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(send)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        buttons.addWidget(self.retry_button)
        olay.addLayout(buttons)

        self.tabs = _named(QtWidgets.QTabWidget(), "pacs_tabs")
        self.tabs.addTab(search_tab, "Search")
        self.tabs.addTab(outbox_tab, "Outbox")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)

    # --- nodes ------------------------------------------------------------------------------------
    def _load_config(self) -> pacs.PacsConfig:
        try:
            return pacs.PacsConfig.load(self.config_path)
        except pacs.PacsError as exc:
            self.host.show_error("PACS configuration", str(exc))
            return pacs.PacsConfig(path=self.config_path or pacs.config_dir() / "pacs.json")

    def reload_nodes(self) -> None:
        self.config = self._load_config()
        current = self.node.currentText() or str(self.host.settings.get("node", "") or "")
        self.node.blockSignals(True)
        self.node.clear()
        self.node.addItems(sorted(self.config.nodes))
        self.node.blockSignals(False)
        if current:
            self.node.setCurrentText(current)
        self._node_changed(self.node.currentText())

    def current_node(self) -> pacs.PacsNode | None:
        spec = self.node.currentText().strip()
        if not spec:
            self.set_status("Choose a node, or add one with Nodes…")
            return None
        try:
            return self.config.resolve(spec)
        except pacs.PacsError as exc:
            self.set_status(str(exc))
            return None

    def _node_changed(self, text: str) -> None:
        self.method.clear()
        try:
            node = self.config.resolve(text.strip()) if text.strip() else None
        except pacs.PacsError:
            node = None
        for label, key in METHODS.get(node.kind if node else "", []):
            self.method.addItem(label, key)
        if node is not None:
            self.host.settings.set("node", text.strip())

    def edit_nodes(self) -> None:
        from plugins.pacs_dock.nodes_dialog import NodesDialog

        dialog = NodesDialog(self.host, self.config, self)
        dialog.exec()
        self.reload_nodes()

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    # --- test connection ---------------------------------------------------------------------------
    def test_connection(self) -> None:
        node = self.current_node()
        if node is None:
            return
        self.set_status(f"Testing {node.name} …")

        def work(_cancelled: CancelledFn, _progress: ProgressFn) -> pacs.PacsNode:
            return pacs.echo(node, self.config)

        self.runner.submit("pacs.echo", work, lambda n: self.set_status(f"Connection OK: {n.describe()}"),
                           lambda exc: self.set_status(f"Connection failed — {exc}"))

    # --- search -------------------------------------------------------------------------------------
    def query(self) -> pacs.StudyQuery:
        return pacs.StudyQuery(patient_id=self.patient_id.text().strip(), patient_name=self.patient_name.text().strip(),
                               date_from=self.date_from.text().strip().replace("-", ""),
                               date_to=self.date_to.text().strip().replace("-", ""),
                               modality=self.modality.currentText().strip(), accession=self.accession.text().strip())

    def search(self) -> None:
        node = self.current_node()
        if node is None:
            return
        try:
            query = self.query()
        except pacs.PacsError as exc:
            self.set_status(str(exc))
            return
        self.set_status(f"Searching {node.name} …")
        self.search_button.setEnabled(False)

        def work(_cancelled: CancelledFn, _progress: ProgressFn) -> list[pacs.StudyHit]:
            return pacs.find_studies(node, query, self.config)

        def failed(exc: BaseException) -> None:
            self.search_button.setEnabled(True)
            self.set_status(f"Search failed — {exc}")

        self.runner.submit("pacs.find", work, self.show_studies, failed)

    def show_studies(self, studies: list[pacs.StudyHit]) -> None:
        self.search_button.setEnabled(True)
        self.results.clear()
        for s in studies:
            item = QtWidgets.QTreeWidgetItem([_date(s.study_date), f"{s.patient_name} ({s.patient_id})",
                                              s.description, "/".join(s.modalities),
                                              "" if s.n_instances is None else str(s.n_instances)])
            item.setData(0, ROLE, ("study", s.study_uid, None))
            item.setToolTip(0, f"Study Instance UID {s.study_uid}\nAccession {s.accession or '-'}")
            item.setChildIndicatorPolicy(QtWidgets.QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.results.addTopLevelItem(item)
        node = self.node.currentText()
        self.set_status(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found on {node}"
                        + (" — expand one for its series" if studies else ""))
        if studies:
            first = self.results.topLevelItem(0)
            if first is not None:
                self.results.setCurrentItem(first)

    def _load_series(self, item: QtWidgets.QTreeWidgetItem) -> None:
        kind, study_uid, _series = item.data(0, ROLE)
        if kind != "study" or item.childCount() or item.data(1, ROLE):
            return
        node = self.current_node()
        if node is None:
            return
        item.setData(1, ROLE, True)  # loading

        def work(_cancelled: CancelledFn, _progress: ProgressFn) -> list[pacs.SeriesHit]:
            return pacs.find_series(node, study_uid, self.config)

        def done(series: list[pacs.SeriesHit]) -> None:
            for s in sorted(series, key=lambda x: (x.number is None, x.number or 0)):
                child = QtWidgets.QTreeWidgetItem([f"series {s.number if s.number is not None else '-'}", "",
                                                   s.description, s.modality,
                                                   "" if s.n_instances is None else str(s.n_instances)])
                child.setData(0, ROLE, ("series", study_uid, s.series_uid))
                child.setToolTip(0, f"Series Instance UID {s.series_uid}")
                item.addChild(child)
            item.setChildIndicatorPolicy(QtWidgets.QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless)

        def failed(exc: BaseException) -> None:
            item.setData(1, ROLE, None)
            self.set_status(f"Listing series failed — {exc}")

        self.runner.submit(f"pacs.series.{study_uid}", work, done, failed)

    def _selection_changed(self) -> None:
        busy = self.runner.is_busy(RETRIEVE)
        self.retrieve_button.setEnabled(bool(self.results.selectedItems()) and not busy)

    # --- retrieve -----------------------------------------------------------------------------------
    def retrieve(self) -> None:
        items = self.results.selectedItems()
        node = self.current_node()
        if not items or node is None or self.runner.is_busy(RETRIEVE):
            return
        _kind, study_uid, series_uid = items[0].data(0, ROLE)
        method = self.method.currentData() or pacs.default_method(node)
        self.arrived = queue.Queue()
        self.opened_first = False
        self.retrieved = []
        self.opened_path = None
        self.sr_after_open = False
        arrived = self.arrived
        config = self.config
        what = f"series {series_uid}" if series_uid else f"study {study_uid}"
        self.set_status(f"Retrieving {what} from {node.name} by {self.method.currentText() or method} …")
        self.progress.setValue(0)
        self.progress.setFormat("starting …")
        self.retrieve_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def work(cancelled: CancelledFn, progress: ProgressFn) -> pacs.RetrieveResult:
            state: dict[str, Any] = {"total": None, "n": 0}

            def on_progress(done: int, total: int | None, message: str) -> None:
                state["total"] = total if total is not None else state["total"]
                tot = state["total"]
                progress(done / tot if tot else 0.0, f"{done}/{tot if tot else '?'} images")

            def on_file(path: Path) -> None:
                from engine.annotations.dicom_sr import is_sr_file
                from engine.io.study import is_secondary_capture, view_problem

                # the first acquired image opens; SR, PDF and parametric-map objects are listed, never opened,
                # and secondary captures (results' overlays) only when the study has no other image
                viewable = view_problem(path) is None and not is_secondary_capture(path)
                arrived.put((path, viewable, is_sr_file(path)))
                state["n"] += 1
                tot = state["total"]
                progress(min(1.0, state["n"] / tot) if tot else 0.0, "image arrived")

            return pacs.retrieve(node, study_uid, series_uid, out=pacs.cache_dir(), method=method, on_file=on_file,
                                 progress=on_progress, cancelled=cancelled, config=config)

        self.runner.submit(RETRIEVE, work, self._retrieved, self._retrieve_failed, self._retrieve_progress)

    def _drain(self) -> None:
        while True:
            try:
                path, viewable, is_sr = self.arrived.get_nowait()
            except queue.Empty:
                return
            self.retrieved.append(path)
            if is_sr and self.opened_first:
                self.sr_after_open = True
            if not self.opened_first and viewable:
                self.opened_first = True
                self.opened_path = path
                if isinstance(self.host, FileHost):
                    self.host.open_path(path)
                self.host.show_status(f"PACS: first image open ({path.name}); the rest is arriving", 5000)

    def _retrieve_progress(self, fraction: float, message: str) -> None:
        self._drain()
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        label = message if message != "image arrived" else f"{len(self.retrieved)} images"
        self.progress.setFormat(label)

    def _retrieved(self, result: pacs.RetrieveResult) -> None:
        self._drain()
        self.last_result = result
        self.progress.setValue(1000)
        self.progress.setFormat(f"{len(result.files)} images")
        self.cancel_button.setEnabled(False)
        self._selection_changed()
        self.set_status(f"Retrieved {len(result.files)} images by {LABELS.get(result.method, result.method)} in "
                        f"{result.seconds:.1f} s into {result.folder}")
        if isinstance(self.host, FileHost):
            if not self.opened_first:
                from engine.io.study import is_secondary_capture, view_problem

                images = [f for f in result.files if view_problem(f) is None]
                first = next((f for f in images if not is_secondary_capture(f)), images[0] if images else None)
                if first is not None:
                    self.opened_first, self.opened_path = True, first
                    self.host.open_path(first)
            elif self.sr_after_open and self.opened_path is not None and self.host.state.image_path is not None \
                    and Path(self.host.state.image_path) == self.opened_path:
                # an SR of the study arrived after its image was opened: open it again so that the SR's boxes
                # (another reader's or RadLens's earlier results) are shown on it
                self.host.open_path(self.opened_path)
            self.host.show_folder(result.folder)

    def _retrieve_failed(self, exc: BaseException) -> None:
        self.cancel_button.setEnabled(False)
        self._selection_changed()
        self.progress.setValue(0)
        self.progress.setFormat("failed")
        self.set_status(f"Retrieve failed — {exc}")
        self.host.show_error("PACS retrieve failed", str(exc))

    def cancel(self) -> None:
        self.runner.cancel(RETRIEVE)
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelled")
        self.set_status("Retrieve cancelled; the images received so far were removed from the cache.")
        QtCore.QTimer.singleShot(0, self._selection_changed)

    # --- outbox -------------------------------------------------------------------------------------
    def refresh_outbox(self) -> None:
        self.outbox_list.clear()
        items = pacs.Outbox().pending()
        for item in items:
            row = QtWidgets.QTreeWidgetItem([item.node, item.sop_uid, item.last_error])
            row.setToolTip(2, item.last_error)
            self.outbox_list.addTopLevelItem(row)
        self.tabs.setTabText(1, f"Outbox ({len(items)})" if items else "Outbox")
        self.retry_button.setEnabled(bool(items))

    def retry_outbox(self) -> None:
        config = self.config
        self.retry_button.setEnabled(False)
        self.set_status("Sending what waits in the outbox …")

        def work(_cancelled: CancelledFn, _progress: ProgressFn) -> list[pacs.SendReport]:
            return pacs.retry_outbox(config=config)

        def done(reports: list[pacs.SendReport]) -> None:
            self.refresh_outbox()
            sent = sum(len(r.sent) for r in reports)
            left = sum(len(r.pending) for r in reports)
            errors = "; ".join(r.error for r in reports if r.error)
            self.set_status(f"Outbox: {sent} sent, {left} still pending" + (f" — {errors}" if errors else ""))

        def failed(exc: BaseException) -> None:
            self.refresh_outbox()
            self.set_status(f"Outbox retry failed — {exc}")

        self.runner.submit("pacs.send", work, done, failed)

    def _send_dialog(self) -> None:
        from plugins.pacs_dock.send import send_files_command

        send_files_command(self.host, None, panel=self)


W = TypeVar("W", bound=QtWidgets.QWidget)


def _named(widget: W, name: str, placeholder: str = "") -> W:
    widget.setObjectName(name)
    if placeholder and isinstance(widget, QtWidgets.QLineEdit):
        widget.setPlaceholderText(placeholder)
    return widget


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text
