"""Tools › PACS nodes…: add, edit, test and remove PACS nodes; our storage SCP for C-MOVE.

A password or token typed here goes to the OS keyring (:func:`engine.pacs.secrets.store_in_keyring`),
or the node names an environment variable that holds it; the settings file never holds the value.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtCore, QtWidgets

from engine import pacs
from engine.pacs import secrets
from plugins.api import ViewerHost


def show_nodes_dialog(host: ViewerHost) -> None:
    """``pacs.nodes``: the dialog on the configured nodes."""
    try:
        config = pacs.PacsConfig.load()
    except pacs.PacsError as exc:
        host.show_error("PACS nodes", str(exc))
        return
    NodesDialog(host, config, host.main_window()).exec()


class NodesDialog(QtWidgets.QDialog):
    """Edits ``config`` and saves it (atomically) on Save."""

    def __init__(self, host: ViewerHost, config: pacs.PacsConfig, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS nodes")
        self.setObjectName("pacs_nodes_dialog")
        self.host = host
        self.config = config
        self.list = QtWidgets.QListWidget()
        self.list.currentTextChanged.connect(self.show_node)

        self.name = QtWidgets.QLineEdit()
        self.kind = QtWidgets.QComboBox()
        self.kind.addItem("DIMSE (C-FIND / C-GET / C-MOVE / C-STORE)", "dimse")
        self.kind.addItem("DICOMweb (QIDO / WADO-RS / STOW-RS)", "dicomweb")
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.ae_title = QtWidgets.QLineEdit()
        self.host_edit = QtWidgets.QLineEdit()
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.our_ae = QtWidgets.QLineEdit(config.storage_scp.ae_title)
        self.base_url = QtWidgets.QLineEdit()
        self.base_url.setPlaceholderText("https://HOST:PORT/dicom-web")
        self.auth = QtWidgets.QComboBox()
        self.auth.addItems(["none", "basic", "bearer"])
        self.username = QtWidgets.QLineEdit()
        self.password = QtWidgets.QLineEdit()
        self.password.setObjectName("pacs_password")
        self.password.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("stored in the OS keyring, never in the settings file")
        self.env_var = QtWidgets.QLineEdit()
        self.env_var.setPlaceholderText("or: the NAME of an environment variable holding it")
        self.verify = QtWidgets.QCheckBox("Verify the server's TLS certificate")
        self.verify.setChecked(True)
        self.ca_bundle = QtWidgets.QLineEdit()
        self.ca_bundle.setPlaceholderText("CA bundle file (the hospital's CA), optional")
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setValue(10)
        self.timeout.setSuffix(" s")

        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Protocol", self.kind)
        self.dimse_rows = [("PACS AE title", self.ae_title), ("Host", self.host_edit), ("Port", self.port),
                           ("Our AE title", self.our_ae)]
        self.web_rows = [("Base URL", self.base_url), ("Auth", self.auth), ("User name", self.username),
                         ("Password / token", self.password), ("Secret from env", self.env_var),
                         ("", self.verify), ("CA bundle", self.ca_bundle)]
        for label, widget in (*self.dimse_rows, *self.web_rows):
            form.addRow(label, widget)
        form.addRow("Timeout", self.timeout)
        self.form = form

        scp = config.storage_scp
        self.scp_ae = QtWidgets.QLineEdit(scp.ae_title)
        self.scp_host = QtWidgets.QLineEdit(scp.host)
        self.scp_port = QtWidgets.QSpinBox()
        self.scp_port.setRange(1, 65535)
        self.scp_port.setValue(scp.port)
        scp_box = QtWidgets.QGroupBox("Our storage SCP (C-MOVE destination: the PACS must know it)")
        scp_form = QtWidgets.QFormLayout(scp_box)
        scp_form.addRow("AE title", self.scp_ae)
        scp_form.addRow("Listen on", self.scp_host)
        scp_form.addRow("Port", self.scp_port)

        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in (("New", self.new_node), ("Save", self.save_node), ("Remove", self.remove_node),
                           ("Test", self.test_node), ("Close", self.accept)):
            button = QtWidgets.QPushButton(text)
            button.setObjectName(f"pacs_nodes_{text.lower()}")
            button.clicked.connect(slot)
            buttons.addWidget(button)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(form)
        right.addWidget(scp_box)
        right.addWidget(self.message)
        right.addLayout(buttons)
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(right, 3)
        self.list.addItems(sorted(config.nodes))
        if config.nodes:
            self.list.setCurrentRow(0)
        else:
            self._kind_changed()

    def _kind_changed(self) -> None:
        web = self.kind.currentData() == "dicomweb"
        for rows, show in ((self.dimse_rows, not web), (self.web_rows, web)):
            for _label, widget in rows:
                widget.setVisible(show)
                label = self.form.labelForField(widget)
                if label is not None:
                    label.setVisible(show)

    def show_node(self, name: str) -> None:
        node = self.config.nodes.get(name)
        if node is None:
            return
        self.name.setText(node.name)
        self.kind.setCurrentIndex(0 if node.kind == "dimse" else 1)
        self.ae_title.setText(node.ae_title)
        self.host_edit.setText(node.host)
        self.port.setValue(node.port or 104)
        self.our_ae.setText(node.our_ae_title)
        self.base_url.setText(node.base_url)
        self.auth.setCurrentText(node.auth)
        self.username.setText(node.username)
        self.password.clear()
        self.env_var.setText(node.secret[4:] if node.secret.startswith("env:") else "")
        self.verify.setChecked(node.verify_tls)
        self.ca_bundle.setText(node.ca_bundle or "")
        self.timeout.setValue(node.timeout_s)
        self._kind_changed()

    def new_node(self) -> None:
        self.list.clearSelection()
        for edit in (self.name, self.ae_title, self.host_edit, self.base_url, self.username, self.password,
                     self.env_var, self.ca_bundle):
            edit.clear()
        self.message.setText("")

    def node_from_form(self) -> pacs.PacsNode:
        name, kind, timeout = self.name.text().strip(), self.kind.currentData(), self.timeout.value()
        if kind == "dimse":
            return pacs.PacsNode(name=name, kind="dimse", ae_title=self.ae_title.text().strip(),
                                 host=self.host_edit.text().strip(), port=self.port.value(),
                                 our_ae_title=self.our_ae.text().strip(), timeout_s=timeout)
        env = self.env_var.text().strip()
        auth = self.auth.currentText()
        secret = "" if auth == "none" else (f"env:{env}" if env else "keyring")
        return pacs.PacsNode(name=name, kind="dicomweb", base_url=self.base_url.text().strip(),
                             auth=auth, username=self.username.text().strip(), secret=secret,  # type: ignore[arg-type]
                             verify_tls=self.verify.isChecked(), ca_bundle=self.ca_bundle.text().strip() or None,
                             timeout_s=timeout)

    def save_node(self) -> bool:
        """Validate and save the node (its password to the keyring) and the storage SCP."""
        try:
            if not self.name.text().strip():
                raise pacs.NodeConfigError("the node needs a name.")
            node = self.node_from_form()
            scp = replace(self.config.storage_scp, ae_title=self.scp_ae.text().strip() or pacs.config.DEFAULT_AE_TITLE,
                          host=self.scp_host.text().strip() or "127.0.0.1", port=self.scp_port.value())
            if self.password.text() and node.secret == "keyring":
                secrets.store_in_keyring(node.name, self.password.text())
            self.password.clear()
        except pacs.PacsError as exc:
            self.message.setText(str(exc))
            return False
        self.config.add(node)
        self.config.storage_scp = scp
        try:
            self.config.save()
        except OSError as exc:
            self.message.setText(f"Could not save {self.config.path}: {exc}")
            return False
        if not self.list.findItems(node.name, _exact()):
            self.list.addItem(node.name)
        self.message.setText(f"Saved {node.describe()}")
        return True

    def remove_node(self) -> None:
        name = self.name.text().strip()
        if name not in self.config.nodes:
            return
        self.config.remove(name)
        secrets.delete_from_keyring(name)
        self.config.save()
        for item in self.list.findItems(name, _exact()):
            self.list.takeItem(self.list.row(item))
        self.message.setText(f"Removed {name}")

    def test_node(self) -> None:
        """Save, then test the connection (short: at most the node's timeout)."""
        if not self.save_node():
            return
        try:
            node = pacs.echo(self.name.text().strip(), self.config)
        except pacs.PacsError as exc:
            self.message.setText(f"Connection failed — {exc}")
            return
        self.message.setText(f"Connection OK: {node.describe()}")


def _exact() -> QtCore.Qt.MatchFlag:
    return QtCore.Qt.MatchFlag.MatchExactly
