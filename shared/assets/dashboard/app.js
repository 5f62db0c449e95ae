/* The statistics dashboard: figures of a region and its child regions against the targets,
   coverage per scheme, the trend, and (with a staff token typed in once per tab) the anomaly
   counts with their lists and the door-to-door list downloads. Plain JS and SVG, no CDN. */
(function () {
  'use strict';
  var CODES = __CODES__;
  var TOKEN_KEY = 'canbao.dashboard.token';
  var LEVEL_CHILD = { city: '区县', county: '乡镇（街道）', township: '社区（村）' };
  var SVGNS = 'http://www.w3.org/2000/svg';
  var state = { region: CODES.city, by: 'hukou', path: [] , anomaly: null, page: 1 };

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function pct(x) { return (x * 100).toFixed(1) + '%'; }
  function num(n) { return Number(n || 0).toLocaleString('zh-CN'); }
  function token() { try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; } }
  function setToken(t) { try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) {} }

  function api(path, opts) {
    var headers = {};
    var t = token();
    if (t && !(opts && opts.anonymous)) headers.authorization = 'Bearer ' + t;
    return fetch(path, { headers: headers }).then(function (r) {
      if (opts && opts.raw) return r;
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    });
  }

  function readHash() {
    var h = new URLSearchParams(location.hash.replace(/^#/, ''));
    state.region = h.get('region') || CODES.city;
    state.by = h.get('by') === 'residence' ? 'residence' : 'hukou';
    $('by').value = state.by;
  }
  function go(region) {
    location.hash = 'region=' + encodeURIComponent(region) + '&by=' + state.by;
  }

  /* A horizontal bar: value 0..1 with an optional target line. */
  function bar(label, value, cls, target) {
    var wrap = document.createElement('div');
    wrap.className = 'bar';
    var l = document.createElement('span');
    l.textContent = label;
    var svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 100 10');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label + ' ' + pct(value) + (target ? '，目标 ' + pct(target) : ''));
    function rect(x, w, c) {
      var r = document.createElementNS(SVGNS, 'rect');
      r.setAttribute('x', x); r.setAttribute('y', 0); r.setAttribute('width', w); r.setAttribute('height', 10);
      r.setAttribute('class', c); svg.appendChild(r);
    }
    rect(0, 100, 'track');
    rect(0, Math.max(0, Math.min(1, value)) * 100, cls);
    if (target) {
      var line = document.createElementNS(SVGNS, 'line');
      line.setAttribute('x1', target * 100); line.setAttribute('x2', target * 100);
      line.setAttribute('y1', 0); line.setAttribute('y2', 10);
      line.setAttribute('class', 'target');
      line.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.appendChild(line);
    }
    var p = document.createElement('span');
    p.className = 'pct' + (target ? (value >= target ? ' met' : ' unmet') : '');
    p.textContent = pct(value);
    wrap.appendChild(l); wrap.appendChild(svg); wrap.appendChild(p);
    return wrap;
  }

  function card(label, value, note, cls) {
    return '<div class="card"><div class="label">' + esc(label) + '</div><div class="value ' + (cls || '') + '">' +
      esc(value) + '</div>' + (note ? '<div class="note ' + (cls || '') + '">' + esc(note) + '</div>' : '') + '</div>';
  }

  function renderOverview(o) {
    var f = o.figures, t = o.targets;
    $('cards').innerHTML =
      card('应登记人数', num(f.target_population)) +
      card('已登记人数', num(f.registered)) +
      card('登记率', pct(f.registration_rate), (f.registration_target_met ? '达到' : '未达到') + '目标 ' + pct(t.registration_rate),
        f.registration_target_met ? 'met' : 'unmet') +
      card('数据完整率', pct(f.completeness_rate), (f.completeness_target_met ? '达到' : '未达到') + '目标 ' + pct(t.completeness_rate),
        f.completeness_target_met ? 'met' : 'unmet') +
      card('已参保人数', num(f.insured)) +
      card('未参保人数', num(f.uninsured));

    $('children-title').textContent = o.children.length
      ? '各' + (LEVEL_CHILD[o.region.level] || '下级区划') + '登记率与完整率'
      : '本区划已是最小一级';
    var box = $('children');
    box.innerHTML = '';
    var drillable = o.region.level !== 'township';
    o.children.forEach(function (c) {
      var row = document.createElement('div');
      row.className = 'row' + (drillable ? ' drill' : '');
      row.dataset.region = c.code;
      var name = document.createElement('div');
      name.className = 'name';
      name.innerHTML = esc(c.name || c.code) + ' <small>' + esc(c.code) + ' · 应登记 ' + num(c.figures.target_population) + '</small>';
      var bars = document.createElement('div');
      bars.appendChild(bar('登记率', c.figures.registration_rate, 'reg', t.registration_rate));
      bars.appendChild(bar('完整率', c.figures.completeness_rate, 'comp', t.completeness_rate));
      row.appendChild(name); row.appendChild(bars);
      if (drillable) {
        row.tabIndex = 0;
        row.setAttribute('role', 'link');
        row.addEventListener('click', function () { go(c.code); });
        row.addEventListener('keydown', function (e) { if (e.key === 'Enter') go(c.code); });
      }
      box.appendChild(row);
    });
    if (!o.children.length) box.innerHTML = '<p class="hint">没有下级区划的数据。</p>';

    var cov = $('coverage');
    cov.innerHTML = '';
    CODES.schemes.forEach(function (s) {
      var row = document.createElement('div');
      row.className = 'row';
      var name = document.createElement('div');
      name.className = 'name';
      name.innerHTML = esc(s[1]) + ' <small>' + esc(s[0]) + ' · ' + num(f.active_by_scheme[s[0]]) + ' 人</small>';
      var b = document.createElement('div');
      b.appendChild(bar('覆盖率', f.coverage[s[0]] || 0, 'cov'));
      row.appendChild(name); row.appendChild(b);
      cov.appendChild(row);
    });
    $('computed').textContent = '数据计算于 ' + new Date(o.computed_at).toLocaleString('zh-CN') +
      '（数据版本 ' + o.data_version + '）';
  }

  function renderCrumbs(o) {
    var codes = [];
    var code = o.region.code;
    // City 510400 → county 6 digits → township 9 → community 12.
    [6, 9, 12].forEach(function (n) { if (code.length >= n && code !== CODES.city) codes.push(code.slice(0, n)); });
    var html = '<a href="#region=' + CODES.city + '&by=' + state.by + '">攀枝花市</a>';
    codes.forEach(function (c, i) {
      if (c === CODES.city) return;
      var last = i === codes.length - 1;
      var label = last ? (o.region.name || c) : c;
      html += ' › ' + (last ? '<strong>' + esc(label) + '</strong>' : '<a href="#region=' + esc(c) + '&by=' + state.by + '">' + esc(label) + '</a>');
    });
    $('crumbs').innerHTML = html;
  }

  function renderTrend(res) {
    var el = $('trend');
    if (!res || res.status !== 200) { el.innerHTML = '<p class="hint">趋势只按市和区县每日保存。</p>'; return; }
    var pts = res.body.points;
    if (!pts.length) { el.innerHTML = '<p class="hint">还没有每日快照（定时任务每天保存一次）。</p>'; return; }
    var W = 600, H = 220, L = 40, R = 10, T = 10, B = 30;
    var x = function (i) { return L + (pts.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (pts.length - 1)); };
    var y = function (v) { return T + (1 - v) * (H - T - B); };
    var path = function (key) {
      return pts.map(function (p, i) { return (i ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(p.figures[key]).toFixed(1); }).join(' ');
    };
    var svg = '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="登记率与完整率每日趋势">';
    [0, 0.5, 1].forEach(function (v) {
      svg += '<line class="axis" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>' +
        '<text x="4" y="' + (y(v) + 4) + '">' + (v * 100) + '%</text>';
    });
    svg += '<line class="goal" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(0.9) + '" y2="' + y(0.9) + '"/>';
    svg += '<line class="goal" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(0.8) + '" y2="' + y(0.8) + '"/>';
    svg += '<path class="line-reg" d="' + path('registration_rate') + '"/><path class="line-comp" d="' + path('completeness_rate') + '"/>';
    pts.forEach(function (p, i) {
      svg += '<circle cx="' + x(i) + '" cy="' + y(p.figures.registration_rate) + '" r="3" fill="#1f6fd1"><title>' +
        esc(p.day + ' 登记率 ' + pct(p.figures.registration_rate)) + '</title></circle>';
      svg += '<circle cx="' + x(i) + '" cy="' + y(p.figures.completeness_rate) + '" r="3" fill="#1a9b6c"><title>' +
        esc(p.day + ' 完整率 ' + pct(p.figures.completeness_rate)) + '</title></circle>';
    });
    svg += '<text x="' + L + '" y="' + (H - 8) + '">' + esc(pts[0].day) + '</text>';
    if (pts.length > 1) svg += '<text x="' + (W - R) + '" y="' + (H - 8) + '" text-anchor="end">' + esc(pts[pts.length - 1].day) + '</text>';
    svg += '</svg>';
    el.className = 'trend';
    el.innerHTML = svg + '<p class="legend"><span class="key reg"></span>登记率 <span class="key comp"></span>完整率 · 虚线为 90% / 80% 目标</p>';
  }

  function renderAnomalies() {
    var el = $('anomalies');
    $('anomaly-list').innerHTML = '';
    if (!token()) { el.innerHTML = '<p class="hint">异常名单需要工作人员登录后查看。</p>'; return; }
    el.innerHTML = '<p class="hint">正在统计…</p>';
    api('/api/v1/stats/anomalies?region=' + state.region + '&by=' + state.by).then(function (r) {
      if (r.status !== 200) { el.innerHTML = '<p class="error">' + esc(r.body.error ? r.body.error.message : '无法读取') + '</p>'; return; }
      el.innerHTML = '<div class="counts">' + r.body.counts.map(function (c) {
        return '<a href="#" data-type="' + esc(c.type) + '"><div>' + esc(c.name) + '</div><div class="n' + (c.total ? '' : ' zero') + '">' +
          num(c.total) + '</div></a>';
      }).join('') + '</div>';
      Array.prototype.forEach.call(el.querySelectorAll('a[data-type]'), function (a) {
        a.addEventListener('click', function (e) { e.preventDefault(); state.anomaly = a.dataset.type; state.page = 1; loadAnomalyList(); });
      });
    });
  }

  function describe(type, item) {
    var p = item.person || item;
    switch (type) {
      case 'duplicate_enrollment':
      case 'benefits_after_death':
        return [p.id_number, p.name, p.region_hukou, (item.rules || []).join(' ') || (p.person_status_date ? '死亡 ' + p.person_status_date : ''),
          (item.enrollments || []).filter(function (e) { return e.status === 'active'; }).map(function (e) { return e.scheme + ' ' + (e.scheme_name || ''); }).join('；')];
      case 'multiple_ids':
        return [item.id_a + ' / ' + item.id_b, (item.persons || []).map(function (x) { return x.name || ''; }).join(' / '),
          (item.persons[0] || {}).region_hukou, item.rules.join(' '), item.detected_at];
      case 'conflicts':
        return [item.id_number, p.name, p.region_hukou, CODES.fields[item.field] || item.field,
          (item.candidates || []).map(function (c) { return c.value + '（' + (c.sources || []).map(function (s) { return s.source; }).join('、') + '）'; }).join('；')];
      default:
        return [item.credit_code || item.org_code, item.name, item.address, item.status, item.headcount];
    }
  }
  var HEADS = {
    duplicate_enrollment: ['公民身份号码', '姓名', '区划', '重复规则', '有效险种'],
    benefits_after_death: ['公民身份号码', '姓名', '区划', '死亡日期', '仍有效的险种'],
    multiple_ids: ['身份号码', '姓名', '区划', '规则', '发现时间'],
    conflicts: ['公民身份号码', '姓名', '区划', '字段', '各来源的值'],
    uninsured_units: ['信用代码/组织机构代码', '单位名称', '地址', '登记状态', '从业人数']
  };

  function loadAnomalyList() {
    var el = $('anomaly-list');
    Array.prototype.forEach.call($('anomalies').querySelectorAll('a[data-type]'), function (a) {
      a.classList.toggle('active', a.dataset.type === state.anomaly);
    });
    el.innerHTML = '<p class="hint">正在读取…</p>';
    var type = state.anomaly;
    api('/api/v1/stats/anomalies?type=' + type + '&region=' + state.region + '&by=' + state.by + '&page=' + state.page + '&page_size=50').then(function (r) {
      if (r.status !== 200) { el.innerHTML = '<p class="error">' + esc(r.body.error.message) + '</p>'; return; }
      var b = r.body;
      var rows = b.items.map(function (item) {
        return '<tr>' + describe(type, item).map(function (v) { return '<td>' + esc(v) + '</td>'; }).join('') + '</tr>';
      }).join('');
      el.innerHTML = '<div class="list"><h3>' + esc(b.name) + '：共 ' + num(b.total) + ' 条</h3><table><thead><tr>' +
        HEADS[type].map(function (h) { return '<th>' + esc(h) + '</th>'; }).join('') + '</tr></thead><tbody>' + rows +
        '</tbody></table><div class="pager"><button type="button" id="prev"' + (b.page > 1 ? '' : ' disabled') + '>上一页</button>' +
        '<span>第 ' + b.page + ' / ' + Math.max(1, b.pages) + ' 页</span><button type="button" id="next"' +
        (b.page < b.pages ? '' : ' disabled') + '>下一页</button></div></div>';
      $('prev').addEventListener('click', function () { state.page--; loadAnomalyList(); });
      $('next').addEventListener('click', function () { state.page++; loadAnomalyList(); });
    });
  }

  function renderWorklist() {
    var el = $('worklist');
    if (!token()) { el.innerHTML = '<p class="hint">入户调查名单需要工作人员或网格员登录后下载。</p>'; return; }
    el.innerHTML = '<p>本区划未登记和信息不全人员，按社区和地址排序。</p>' +
      '<button type="button" data-format="csv">下载 CSV</button> <button type="button" data-format="xlsx">下载 Excel</button>' +
      '<p id="worklist-msg" class="hint"></p>';
    Array.prototype.forEach.call(el.querySelectorAll('button[data-format]'), function (btn) {
      btn.addEventListener('click', function () {
        var fmt = btn.dataset.format;
        $('worklist-msg').textContent = '正在生成…';
        api('/api/v1/stats/worklist?region=' + state.region + '&by=' + state.by + '&format=' + fmt, { raw: true }).then(function (r) {
          if (!r.ok) {
            return r.json().then(function (b) { $('worklist-msg').textContent = b.error ? b.error.message : '无法下载'; });
          }
          return r.blob().then(function (blob) {
            var a = document.createElement('a');
            a.href = URL.createObjectURL(blob);
            a.download = '入户调查名单-' + state.region + '.' + fmt;
            document.body.appendChild(a); a.click(); a.remove();
            $('worklist-msg').textContent = '已下载。';
          });
        });
      });
    });
  }

  function showWho() {
    var signed = !!token();
    $('who').textContent = signed ? '已登录' : '';
    $('signin-open').hidden = signed;
    $('signout').hidden = !signed;
  }

  function load() {
    readHash();
    $('status').textContent = '正在加载…';
    var q = 'region=' + encodeURIComponent(state.region) + '&by=' + state.by;
    var own = state.region.length <= 6;
    api('/api/v1/stats/overview?' + q, { anonymous: own && !token() }).then(function (r) {
      if (r.status !== 200) {
        $('main').hidden = true;
        $('status').textContent = (r.body.error && r.body.error.message) || '无法读取统计数据';
        if (r.status === 401) $('status').textContent += '：乡镇（街道）及以下的数据请先登录。';
        return;
      }
      $('status').textContent = '';
      $('main').hidden = false;
      renderCrumbs(r.body);
      renderOverview(r.body);
      if (state.region.length <= 6) api('/api/v1/stats/trend?' + q).then(renderTrend); else renderTrend(null);
      renderAnomalies();
      renderWorklist();
    }).catch(function () { $('status').textContent = '网络异常，请稍后重试'; });
  }

  $('by').addEventListener('change', function () { state.by = $('by').value; go(state.region); });
  $('signin-open').addEventListener('click', function () { $('signin').hidden = false; $('token').focus(); });
  $('signin-cancel').addEventListener('click', function () { $('signin').hidden = true; });
  $('signout').addEventListener('click', function () { setToken(null); showWho(); load(); });
  $('signin').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    fetch('/api/v1/stats/anomalies?page_size=1&type=conflicts', { headers: { authorization: 'Bearer ' + t } }).then(function (r) {
      // 401: unknown token. 403 for a collector is still a valid sign-in (worklists only).
      if (r.status === 401) { $('signin-error').textContent = '令牌无效'; return; }
      setToken(t);
      $('token').value = '';
      $('signin-error').textContent = '';
      $('signin').hidden = true;
      showWho();
      load();
    });
  });
  window.addEventListener('hashchange', load);
  showWho();
  load();
})();
