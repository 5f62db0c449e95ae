/*
 * 参保登记查询 — the embeddable lookup widget of canbao.
 *
 * A portal includes it with
 *   <div id="x"></div><script src="<canbao origin>/embed/lookup.js" data-target="x"></script>
 * or mounts it itself with CanbaoLookup.mount(element, { apiBase: "<canbao origin>" }).
 * The form lives in a Shadow DOM, so the portal's CSS cannot reach it, and it calls the lookup
 * API across origins (the portal's origin must be in the app's `cors_origins`). The iframe page
 * /embed/lookup uses this same script with data-report-height, posting its height to the parent.
 * No dependencies, no external resources; results are written as text, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;

  var STATUS = { active: "参保缴费", suspended: "暂停缴费", terminated: "终止参保" };

  var CSS = [
    // The host element is in the portal's document, where its !important rules win; so the
    // typography is set on .box, inside the shadow root, and nothing inherits from the portal.
    ":host{all:initial;display:block;max-width:420px}",
    ".box{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;font-size:15px;",
    "line-height:1.5;color:#1f2933;text-align:left;letter-spacing:normal;",
    "border:1px solid #d0d7de;border-radius:8px;padding:16px;background:#fff}",
    "h2{margin:0 0 12px;font-size:18px;font-weight:600;color:#0b5cad}",
    "label{display:block;margin:0 0 10px}",
    "label span{display:block;font-size:14px;margin-bottom:4px}",
    "input{box-sizing:border-box;width:100%;padding:8px 10px;font:inherit;border:1px solid #9aa5b1;border-radius:6px}",
    "input:focus{outline:2px solid #0b5cad;border-color:#0b5cad}",
    "button{font:inherit;padding:8px 20px;border:0;border-radius:6px;background:#0b5cad;color:#fff;cursor:pointer}",
    "button[disabled]{opacity:.6;cursor:wait}",
    ".result{margin-top:14px}",
    ".result:empty{display:none}",
    ".ok{border-left:4px solid #2f9e44;padding:8px 12px;background:#f1f8f3}",
    ".error{border-left:4px solid #c92a2a;padding:8px 12px;background:#fdf2f2;color:#862e2e}",
    "dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 12px}",
    "dt{color:#52606d}dd{margin:0}",
    "ul{margin:4px 0 0;padding-left:18px}",
    ".error p{margin:0}",
    ".note{margin-top:8px;font-size:12px;color:#7b8794}"
  ].join("");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function row(dl, term, value) {
    dl.appendChild(el("dt", {}, term));
    var dd = el("dd", {});
    if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
    dl.appendChild(dd);
  }

  function showResult(out, data) {
    out.className = "result ok";
    out.setAttribute("data-state", "found");
    var dl = el("dl", {});
    row(dl, "姓名", data.name_masked);
    row(dl, "公民身份号码", data.id_masked);
    row(dl, "登记状态", data.registered ? "已登记" : "未登记");
    row(dl, "参保状态", data.status === "insured" ? "已参保" : "未参保");
    var schemes;
    if (data.schemes && data.schemes.length) {
      schemes = el("ul", {});
      data.schemes.forEach(function (s) {
        schemes.appendChild(el("li", {}, s.name + "：" + (STATUS[s.status] || s.status)));
      });
    } else {
      schemes = "无";
    }
    row(dl, "参保险种", schemes);
    row(dl, "更新时间", String(data.updated_at || "").slice(0, 10));
    out.appendChild(dl);
    out.appendChild(el("p", { class: "note" }, "为保护个人信息，姓名和号码已部分隐去。"));
  }

  function showError(out, message, fields) {
    out.className = "result error";
    out.setAttribute("data-state", "error");
    out.appendChild(el("p", {}, message));
    if (fields && fields.length) {
      var ul = el("ul", {});
      fields.forEach(function (f) { ul.appendChild(el("li", {}, f.message)); });
      out.appendChild(ul);
    }
  }

  function errorMessage(response, body) {
    if (response.status === 429) {
      var wait = response.headers.get("Retry-After");
      return "查询过于频繁，请" + (wait ? wait + "秒后" : "稍后") + "再试。";
    }
    if (response.status === 404) return "未查询到与该公民身份号码和姓名相符的参保登记信息。";
    return (body && body.error && body.error.message) || "查询失败（" + response.status + "），请稍后再试。";
  }

  /** Renders the widget into `host` and returns { lookup(id, name) } for scripted use. */
  function mount(host, options) {
    if (typeof host === "string") host = document.getElementById(host);
    if (!host) throw new Error("CanbaoLookup.mount: no element to mount into");
    var apiBase = String((options && options.apiBase) || scriptOrigin).replace(/\/+$/, "");
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    while (root.firstChild) root.removeChild(root.firstChild);

    root.appendChild(el("style", {}, CSS));
    var box = el("div", { class: "box", part: "box" });
    box.appendChild(el("h2", {}, "参保登记查询"));
    var form = el("form", { novalidate: "" });
    var idLabel = el("label", {});
    idLabel.appendChild(el("span", {}, "公民身份号码"));
    var idInput = el("input", { name: "id_number", autocomplete: "off", maxlength: "20", inputmode: "text",
      placeholder: "18位身份证号码" });
    idLabel.appendChild(idInput);
    var nameLabel = el("label", {});
    nameLabel.appendChild(el("span", {}, "姓名"));
    var nameInput = el("input", { name: "name", autocomplete: "off", maxlength: "64", placeholder: "与身份证一致" });
    nameLabel.appendChild(nameInput);
    var button = el("button", { type: "submit" }, "查询");
    var out = el("div", { class: "result", role: "status", "aria-live": "polite" });
    form.appendChild(idLabel);
    form.appendChild(nameLabel);
    form.appendChild(button);
    box.appendChild(form);
    box.appendChild(out);
    root.appendChild(box);

    function lookup(id, name) {
      while (out.firstChild) out.removeChild(out.firstChild);
      out.removeAttribute("data-state");
      if (!id.trim() || !name.trim()) {
        showError(out, "请填写公民身份号码和姓名。");
        return Promise.resolve();
      }
      button.disabled = true;
      var url = apiBase + "/api/v1/lookup?id_number=" + encodeURIComponent(id.trim()) +
        "&name=" + encodeURIComponent(name.trim());
      return fetch(url, { mode: "cors", credentials: "omit", cache: "no-store" })
        .then(function (response) {
          return response.json().catch(function () { return null; }).then(function (body) {
            if (response.ok && body) showResult(out, body);
            else showError(out, errorMessage(response, body), body && body.error && body.error.fields);
          });
        }, function () {
          showError(out, "无法连接查询服务：本网站可能未获授权使用该查询，或网络异常。");
        })
        .then(function () { button.disabled = false; });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      lookup(idInput.value, nameInput.value);
    });
    return { lookup: lookup };
  }

  /** In an iframe: tell the parent page how tall the content is, whenever it changes. */
  function reportHeight() {
    if (window.parent === window) return;
    var last = 0;
    function post() {
      var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (height !== last) {
        last = height;
        window.parent.postMessage({ type: "canbao-lookup:height", height: height }, "*");
      }
    }
    new ResizeObserver(post).observe(document.documentElement);
    post();
  }

  window.CanbaoLookup = { mount: mount };

  if (script && script.getAttribute("data-target")) {
    var start = function () {
      mount(script.getAttribute("data-target"), { apiBase: script.getAttribute("data-api-base") || scriptOrigin });
      if (script.getAttribute("data-report-height") === "true") reportHeight();
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
