// The registration form (全民参保登记 H5). The checks here mirror the server's (shared/src/
// registration.rs and ids.rs) so people see mistakes before sending; the server decides. Drafts
// live in localStorage with the Idempotency-Key they were created with, so a submission queued
// offline and sent later, or sent twice, registers once. Reference codes come from the server
// (substituted for __CODES__ when this file is served), never from a copy kept here.
(function () {
  'use strict';
  var CODES = __CODES__;
  var ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = '10X98765432';
  var CREDIT_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  var CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  var ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2];
  var DRAFT_KEY = 'canbao.register.draft';
  var OUTBOX_KEY = 'canbao.register.outbox';
  var TOKEN_KEY = 'canbao.token';
  var TEXT_FIELDS = ['id_number', 'name', 'ethnicity', 'hukou_address', 'residence_address', 'phone',
    'employment_status', 'employer_name', 'employer_credit_code', 'uninsured_reason', 'willingness'];

  function $(id) { return document.getElementById(id); }
  function store(kind) { try { return window[kind]; } catch (e) { return null; } }
  function load(kind, key, fallback) {
    var s = store(kind);
    try { var v = s && s.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }
  function save(kind, key, value) {
    var s = store(kind);
    if (!s) return;
    if (value === null) s.removeItem(key); else s.setItem(key, JSON.stringify(value));
  }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }
  function ascii(s) {
    return s.replace(/[\uFF01-\uFF5E]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); });
  }
  function err(field, code, message) { return { field: field, code: code, message: message }; }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function today() { var d = new Date(); return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()); }

  // ---- checks (mirroring the server) -------------------------------------------------------
  function idCheckChar(first17) {
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * ID_WEIGHTS[i];
    return ID_CHECK.charAt(sum % 11);
  }

  /** The citizen ID: {id, birth, gender} or {error}. */
  function checkId(raw) {
    var s = ascii(raw).replace(/\s+/g, '');
    if (!s) return { error: err('id_number', 'required', '请填写18位公民身份号码') };
    if (s.length !== 18 && s.length !== 15) {
      return { error: err('id_number', 'length', '公民身份号码应为18位（旧版15位），您填写了' + s.length + '位，请对照身份证核对') };
    }
    if (s.length === 18) s = s.slice(0, 17) + s.charAt(17).toUpperCase();
    for (var i = 0; i < s.length; i++) {
      var c = s.charAt(i);
      if (!(c >= '0' && c <= '9') && !(i === 17 && c === 'X')) {
        return { error: err('id_number', 'charset', '公民身份号码只能是数字（第18位可以是X），第' + (i + 1) + '位“' + c + '”不对，请核对') };
      }
    }
    if (s.length === 15) s = s.slice(0, 6) + '19' + s.slice(6) + 'X';
    var check = idCheckChar(s.slice(0, 17));
    if (raw.replace(/\s+/g, '').length === 15) s = s.slice(0, 17) + check;
    else if (check !== s.charAt(17)) {
      return { error: err('id_number', 'checksum', '公民身份号码校验不通过，可能有数字填错或顺序颠倒，请对照身份证逐位核对') };
    }
    var y = +s.slice(6, 10), m = +s.slice(10, 12), d = +s.slice(12, 14);
    var date = new Date(Date.UTC(y, m - 1, d));
    var iso = s.slice(6, 10) + '-' + s.slice(10, 12) + '-' + s.slice(12, 14);
    var problem = date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d ? '不是真实的日期'
      : y < 1900 ? '早于1900年' : iso > today() ? '晚于今天' : '';
    if (problem) {
      return { error: err('id_number', 'birth_date', '公民身份号码第7至14位的出生日期' + s.slice(6, 14) + problem + '，请对照身份证核对') };
    }
    return { id: s, birth: iso, gender: (+s.charAt(16)) % 2 === 1 ? '1' : '2' };
  }

  function checkName(raw) {
    var s = raw.trim();
    if (!s) return err('name', 'required', '请填写姓名');
    var bad = s.match(/[^\p{L}\p{M} ·・•‧･.]/u);
    if (bad) return err('name', 'charset', '姓名只能包含汉字、字母和间隔号“·”，“' + bad[0] + '”不对，请按身份证填写');
    if (Array.from(s).length > CODES.max.name) return err('name', 'too_long', '姓名最多' + CODES.max.name + '个字，请按身份证填写');
    return null;
  }

  function checkPhone(raw) {
    var d = ascii(raw).replace(/[\s\-()（）]/g, '');
    var bad = err('phone', 'format', '联系电话应为11位手机号（如 13812345678）或带区号的固定电话（如 0812-3334444），请核对');
    var m = d.match(/^(?:\+86|0086|86)(1\d{10})$/) || d.match(/^\+86(\d+)$/);
    if (m) d = m[1];
    if (!/^\d+$/.test(d)) return bad;
    if (/^1[3-9]\d{9}$/.test(d)) return null;
    if (d.charAt(0) === '0') {
      var area = /^0[12]/.test(d) ? 3 : 4, local = d.length - area;
      if (local >= 7 && local <= 8 && !/[01]/.test(d.charAt(area))) return null;
    }
    return bad;
  }

  function checkCreditCode(raw) {
    var s = ascii(raw).replace(/\s+/g, '').toUpperCase();
    if (s.length !== 18) return err('employer_credit_code', 'length', '统一社会信用代码应为18位，您填写了' + s.length + '位，请对照营业执照核对');
    for (var i = 0; i < 18; i++) {
      if (CREDIT_ALPHABET.indexOf(s.charAt(i)) < 0) {
        return err('employer_credit_code', 'charset', '统一社会信用代码不使用字母I、O、Z、S、V，第' + (i + 1) + '位“' + s.charAt(i) + '”不对，请对照营业执照核对');
      }
    }
    var sum = 0;
    for (i = 0; i < 17; i++) sum += CREDIT_ALPHABET.indexOf(s.charAt(i)) * CREDIT_WEIGHTS[i];
    var bad = err('employer_credit_code', 'checksum', '统一社会信用代码校验不通过，请对照营业执照逐位核对');
    if (CREDIT_ALPHABET.charAt((31 - sum % 31) % 31) !== s.charAt(17)) return bad;
    var org = s.slice(8, 17), osum = 0;
    for (i = 0; i < 8; i++) {
      var v = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.indexOf(org.charAt(i));
      if (v < 0) return bad;
      osum += v * ORG_WEIGHTS[i];
    }
    var c = 11 - osum % 11;
    return (c === 10 ? 'X' : c === 11 ? '0' : String(c)) === org.charAt(8) ? null
      : err('employer_credit_code', 'checksum', '统一社会信用代码第9至17位（组织机构代码）校验不通过，请对照营业执照逐位核对');
  }

  function checkLength(field, value, max, label) {
    return Array.from(value.trim()).length > max ? err(field, 'too_long', label + '最多' + max + '个字，请精简') : null;
  }

  /** Every client-side error of a body, as the server would report them. */
  function validate(body) {
    var errors = [];
    var push = function (e) { if (e) errors.push(e); };
    var id = checkId(body.id_number || '');
    push(id.error);
    push(checkName(body.name || ''));
    if (body.phone) push(checkPhone(body.phone));
    if (body.employer_credit_code) push(checkCreditCode(body.employer_credit_code));
    if (body.hukou_address) push(checkLength('hukou_address', body.hukou_address, CODES.max.address, '户籍地址'));
    if (body.residence_address) push(checkLength('residence_address', body.residence_address, CODES.max.address, '居住地址'));
    if (body.employer_name) push(checkLength('employer_name', body.employer_name, CODES.max.employer_name, '单位名称'));
    (body.insurance || []).forEach(function (item, i) {
      if (!item.status) push(err('insurance[' + i + '].status', 'required', '请选择参保状态'));
    });
    if (body.uninsured_reason && (body.insurance || []).some(function (i) { return i.status === 'active'; })) {
      push(err('uninsured_reason', 'inconsistent', '已填写正在参保缴费的险种，就不应再填写未参保原因，请删去其中一项'));
    }
    return errors;
  }

  // ---- the form ------------------------------------------------------------------------------
  var form = $('form');
  var draft = load('localStorage', DRAFT_KEY, null);

  function options(select, list, placeholder) {
    select.innerHTML = '';
    var first = document.createElement('option');
    first.value = '';
    first.textContent = placeholder;
    select.appendChild(first);
    list.forEach(function (pair) {
      var o = document.createElement('option');
      o.value = pair[0];
      o.textContent = pair[1];
      select.appendChild(o);
    });
  }
  options($('ethnicity'), CODES.ethnicity, '请选择民族');
  options($('employment_status'), CODES.employment, '请选择就业状态');
  options($('uninsured_reason'), CODES.uninsured, '请选择原因');
  options($('willingness'), CODES.willingness, '请选择');

  CODES.schemes.forEach(function (pair) {
    var row = document.createElement('div');
    row.className = 'scheme';
    row.innerHTML = '<label class="opt"><input type="checkbox" value="' + pair[0] + '"> ' + pair[1] + '</label>';
    var status = document.createElement('select');
    status.setAttribute('aria-label', pair[1] + ' 参保状态');
    options(status, CODES.statuses, '参保状态');
    status.value = 'active';
    status.hidden = true;
    row.appendChild(status);
    row.querySelector('input').addEventListener('change', function (e) { status.hidden = !e.target.checked; });
    $('schemes').appendChild(row);
  });

  /** A cascading region picker: one select per level, loaded from /api/v1/regions. */
  function Picker(el) {
    this.el = el;
    this.field = el.getAttribute('data-field');
    this.ready = this.level(null, 0);
  }
  Picker.prototype.level = function (parent, depth) {
    var self = this;
    while (self.el.children.length > depth) self.el.removeChild(self.el.lastChild);
    return fetch('/api/v1/regions' + (parent ? '?parent=' + encodeURIComponent(parent) : ''))
      .then(function (r) { return r.ok ? r.json() : { regions: [] }; })
      .then(function (data) {
        if (!data.regions.length) return;
        var select = document.createElement('select');
        select.setAttribute('aria-label', (depth ? '下一级' : '') + '行政区划');
        select.name = self.field + '_' + depth;
        options(select, data.regions.map(function (r) { return [r.code, r.name]; }), '请选择');
        data.regions.forEach(function (r, i) { select.options[i + 1].dataset.children = r.has_children ? '1' : ''; });
        select.addEventListener('change', function () {
          while (self.el.children.length > depth + 1) self.el.removeChild(self.el.lastChild);
          var o = select.options[select.selectedIndex];
          var next = o && o.value && o.dataset.children ? self.level(select.value, depth + 1) : Promise.resolve();
          next.then(saveDraft);
        });
        self.el.appendChild(select);
        if (data.regions.length === 1 && data.regions[0].has_children) {
          select.value = data.regions[0].code;
          return self.level(select.value, depth + 1);
        }
      })
      .catch(function () { /* offline: the picker keeps what it has */ });
  };
  Picker.prototype.value = function () {
    var v = '';
    Array.prototype.forEach.call(this.el.querySelectorAll('select'), function (s) { if (s.value) v = s.value; });
    return v;
  };
  /** Selects `code` and its ancestors level by level. */
  Picker.prototype.set = function (code) {
    var self = this;
    if (!code) return Promise.resolve();
    var chain = [code.slice(0, 4) + '00', code.slice(0, 6), code.slice(0, 9), code].filter(function (c, i, a) {
      return c.length <= code.length && a.indexOf(c) === i;
    });
    var depth = 0;
    function step() {
      var select = self.el.children[depth];
      if (!select) return Promise.resolve();
      var pick = chain.filter(function (c) { return Array.prototype.some.call(select.options, function (o) { return o.value === c; }); })[0];
      if (!pick) return Promise.resolve();
      if (select.value !== pick) {
        select.value = pick;
        var o = select.options[select.selectedIndex];
        while (self.el.children.length > depth + 1) self.el.removeChild(self.el.lastChild);
        if (o.dataset.children) return self.level(pick, depth + 1).then(function () { depth++; return step(); });
        return Promise.resolve();
      }
      depth++;
      return step();
    }
    return this.ready.then(step);
  };
  var pickers = Array.prototype.map.call(document.querySelectorAll('.picker'), function (el) { return new Picker(el); });
  function picker(field) { return pickers.filter(function (p) { return p.field === field; })[0]; }

  function insured() {
    var r = form.querySelector('input[name=insured]:checked');
    return r ? r.value : '';
  }
  function showSections() {
    $('schemes').hidden = insured() !== 'yes';
    $('uninsured').hidden = insured() !== 'no';
    $('employer').hidden = ['employed', 'flexible', 'retired'].indexOf($('employment_status').value) < 0;
  }

  /** The request body: every filled field, schemes or the uninsured reason. */
  function collect() {
    var body = {};
    TEXT_FIELDS.forEach(function (f) {
      var v = $(f).value.trim();
      if (v && !$(f).closest('[hidden]')) body[f] = v;
    });
    var id = checkId($('id_number').value);
    if (!id.error) { body.gender = id.gender; body.birth_date = id.birth; }
    pickers.forEach(function (p) { var v = p.value(); if (v) body[p.field] = v; });
    if (insured() === 'yes') {
      body.insurance = [];
      Array.prototype.forEach.call($('schemes').querySelectorAll('.scheme'), function (row) {
        var box = row.querySelector('input');
        if (box.checked) body.insurance.push({ scheme: box.value, status: row.querySelector('select').value });
      });
      delete body.uninsured_reason;
      delete body.willingness;
    }
    return body;
  }

  function clearErrors() {
    Array.prototype.forEach.call(document.querySelectorAll('.err'), function (p) { p.textContent = ''; });
    Array.prototype.forEach.call(form.querySelectorAll('.bad'), function (el) { el.classList.remove('bad'); });
  }
  /** Shows each error beside its field (scheme errors beside the insurance section). */
  function showErrors(errors) {
    clearErrors();
    var first = null;
    errors.forEach(function (e) {
      var field = /^insurance/.test(e.field) ? 'insurance' : e.field;
      var slot = document.querySelector('.err[data-for="' + field + '"]') || document.querySelector('.err[data-for="body"]');
      slot.textContent = slot.textContent ? slot.textContent + '；' + e.message : e.message;
      var input = $(field);
      if (input) input.classList.add('bad');
      if (!first) first = input || slot;
    });
    if (first) { first.scrollIntoView({ block: 'center' }); if (first.focus) first.focus(); }
  }

  function showDerived() {
    var id = checkId($('id_number').value);
    var p = $('derived');
    p.hidden = !!id.error;
    if (!id.error) p.textContent = '出生日期 ' + id.birth + '，性别 ' + (id.gender === '1' ? '男' : '女') + '（由身份证号码自动识别）';
    return id;
  }

  // ---- drafts and the offline outbox ---------------------------------------------------------
  function saveDraft() {
    var values = {};
    TEXT_FIELDS.forEach(function (f) { values[f] = $(f).value; });
    pickers.forEach(function (p) { values[p.field] = p.value(); });
    var schemes = {};
    Array.prototype.forEach.call($('schemes').querySelectorAll('.scheme'), function (row) {
      var box = row.querySelector('input');
      if (box.checked) schemes[box.value] = row.querySelector('select').value;
    });
    draft = { key: (draft && draft.key) || newKey(), values: values, insured: insured(), schemes: schemes };
    save('localStorage', DRAFT_KEY, draft);
  }
  function restoreDraft(d) {
    TEXT_FIELDS.forEach(function (f) { if (d.values[f] !== undefined) $(f).value = d.values[f]; });
    var radio = form.querySelector('input[name=insured][value="' + d.insured + '"]');
    if (radio) radio.checked = true;
    Array.prototype.forEach.call($('schemes').querySelectorAll('.scheme'), function (row) {
      var box = row.querySelector('input'), status = d.schemes && d.schemes[box.value];
      box.checked = !!status;
      row.querySelector('select').hidden = !status;
      if (status) row.querySelector('select').value = status;
    });
    showSections();
    showDerived();
    return Promise.all(pickers.map(function (p) { return p.set(d.values[p.field]); }));
  }
  function outbox() { return load('localStorage', OUTBOX_KEY, []); }
  function showQueued() {
    var n = outbox().length;
    $('queued').hidden = n === 0;
    $('queued').textContent = '有 ' + n + ' 份登记已保存在本机，联网后自动提交';
  }
  function enqueue(item) {
    var box = outbox().filter(function (i) { return i.key !== item.key; });
    box.push(item);
    save('localStorage', OUTBOX_KEY, box);
    showQueued();
  }
  function dequeue(key) {
    save('localStorage', OUTBOX_KEY, outbox().filter(function (i) { return i.key !== key; }));
    showQueued();
  }

  var sending = false;
  /** Sends one queued or fresh submission; a network failure leaves it queued for later. */
  function send(item) {
    var headers = { 'content-type': 'application/json', 'idempotency-key': item.key };
    if (item.token) headers.authorization = 'Bearer ' + item.token;
    $('submit').disabled = true;
    return fetch('/api/v1/registrations', { method: 'POST', headers: headers, body: JSON.stringify(item.body) })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (json) { return { status: r.status, json: json }; });
      })
      .then(function (res) {
        $('submit').disabled = false;
        dequeue(item.key);
        if (res.status === 200 || res.status === 201) {
          if (draft && draft.key === item.key) { save('localStorage', DRAFT_KEY, null); draft = null; }
          return showReceipt(res.json);
        }
        var error = res.json && res.json.error;
        if (res.status === 422 && error) return showErrors(error.fields || []);
        showErrors([err('body', error ? error.code : 'http_' + res.status, error ? error.message : '提交失败，请稍后再试')]);
      }, function () {
        $('submit').disabled = false;
        enqueue(item);
      });
  }
  function flush() {
    if (sending || !navigator.onLine) return Promise.resolve();
    var box = outbox();
    if (!box.length) return Promise.resolve();
    sending = true;
    return box.reduce(function (p, item) { return p.then(function () { return send(item); }); }, Promise.resolve())
      .then(function () { sending = false; }, function () { sending = false; });
  }

  function showReceipt(r) {
    form.hidden = true;
    $('receipt').hidden = false;
    $('receipt-id').textContent = r.receipt_id;
    var p = r.person, rows = [
      ['姓名', p.name_masked], ['身份证号', p.id_masked], ['性别', p.gender], ['联系电话', p.phone_masked],
      ['居住地址', p.residence_address_masked],
      ['参保险种', (p.schemes || []).map(function (s) { return s.name; }).join('、') || null],
      ['未参保原因', p.uninsured_reason]
    ];
    var dl = $('receipt-person');
    dl.innerHTML = '';
    rows.forEach(function (row) {
      if (!row[1]) return;
      var dt = document.createElement('dt'), dd = document.createElement('dd');
      dt.textContent = row[0];
      dd.textContent = row[1];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    $('receipt-complete').textContent = r.complete ? '登记信息已完整。'
      : '登记已收到，还缺少：' + r.missing_fields.map(function (f) { return CODES.fields[f] || f; }).join('、') + '。';
    $('receipt-conflicts').hidden = !(r.conflicts && r.conflicts.length);
    window.scrollTo(0, 0);
  }

  // ---- collector sign-in (once per browser session) ------------------------------------------
  function token() { return load('sessionStorage', TOKEN_KEY, null); }
  function showWho() {
    var signed = !!token();
    $('who-label').textContent = signed ? '网格员已登录：采集登记' : '居民本人登记';
    $('signin-open').hidden = signed;
    $('signout').hidden = !signed;
  }
  $('signin-open').addEventListener('click', function () { $('signin').hidden = false; $('token').focus(); });
  $('signin-cancel').addEventListener('click', function () { $('signin').hidden = true; });
  $('signout').addEventListener('click', function () { save('sessionStorage', TOKEN_KEY, null); showWho(); });
  $('signin-ok').addEventListener('click', function () {
    var t = $('token').value.trim();
    if (!t) { $('signin').querySelector('.err').textContent = '请输入登录令牌'; return; }
    // Any person lookup tells whether the token is known (401) without needing a real person.
    fetch('/api/v1/persons/11010519491231002X', { headers: { authorization: 'Bearer ' + t } }).then(function (r) {
      if (r.status === 401) { $('signin').querySelector('.err').textContent = '令牌无效或已停用'; return; }
      save('sessionStorage', TOKEN_KEY, t);
      $('token').value = '';
      $('signin').hidden = true;
      showWho();
    }, function () { $('signin').querySelector('.err').textContent = '网络不可用，请联网后登录'; });
  });

  /** `?id=` from a collector's door-to-door list: the ID, and what the base database knows. */
  function prefill(id) {
    if (draft && draft.values.id_number !== id) draft = null;
    $('id_number').value = id;
    showDerived();
    if (!token()) return Promise.resolve();
    return fetch('/api/v1/persons/' + encodeURIComponent(id), { headers: { authorization: 'Bearer ' + token() } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (person) {
        if (!person) return;
        var known = {};
        person.fields.forEach(function (f) { if (f.value) known[f.field] = f.value; });
        TEXT_FIELDS.forEach(function (f) { if (known[f] && !$(f).value) $(f).value = known[f]; });
        showSections();
        return Promise.all(pickers.map(function (p) { return p.value() ? null : p.set(known[p.field]); }));
      })
      .catch(function () {});
  }

  // ---- wiring --------------------------------------------------------------------------------
  form.addEventListener('input', function (e) {
    if (e.target.id === 'id_number') {
      var id = showDerived();
      var slot = document.querySelector('.err[data-for="id_number"]');
      var done = ascii(e.target.value).replace(/\s+/g, '').length >= 18;
      slot.textContent = done && id.error ? id.error.message : '';
      e.target.classList.toggle('bad', done && !!id.error);
    }
    saveDraft();
  });
  form.addEventListener('change', function () { showSections(); saveDraft(); });
  $('id_number').addEventListener('blur', function (e) {
    if (!e.target.value.trim()) return;
    var id = checkId(e.target.value);
    document.querySelector('.err[data-for="id_number"]').textContent = id.error ? id.error.message : '';
    e.target.classList.toggle('bad', !!id.error);
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var body = collect();
    var errors = validate(body);
    if (errors.length) return showErrors(errors);
    clearErrors();
    saveDraft();
    var item = { key: draft.key, body: body, token: token() };
    if (!navigator.onLine) return enqueue(item);
    send(item);
  });
  $('reset').addEventListener('click', function () {
    save('localStorage', DRAFT_KEY, null);
    draft = null;
    window.location.reload();
  });
  $('again').addEventListener('click', function () {
    window.location.href = '/register';
  });
  function network() { $('net').hidden = navigator.onLine; }
  window.addEventListener('online', function () { network(); flush(); });
  window.addEventListener('offline', network);

  showWho();
  network();
  showQueued();
  var wanted = new URLSearchParams(window.location.search).get('id');
  var restored = draft ? restoreDraft(draft) : Promise.resolve();
  restored.then(function () { return wanted ? prefill(wanted) : null; }).then(function () {
    document.body.setAttribute('data-ready', '1');
    return flush();
  });
})();
