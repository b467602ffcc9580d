/* Local CIF host: the seeded Dataverse tables (contacts.json, accounts.json) and the
 * part of Dataverse's OData query language that searchAndOpenRecords passes on, answered
 * as Dataverse answers it (docs/cif.md, "The local host"):
 *   $select  columns (the primary key always comes back); an unknown column is an error
 *   $filter  eq / ne (a string or null), contains / startswith / endswith(column,'text'),
 *            and / or / not, parentheses; strings compare ignoring case; in the three
 *            functions % _ [ ] are SQL LIKE wildcards (a literal one is bracketed: [%])
 *   $top     1–5000;  $search  the text a search page opens with
 * Anything else is refused with the error Dataverse would give, never guessed at.
 * Defines window.LocalDataverse = {ready, tables, query(entity, queryString), quickFind(text, entities)}.
 */
(function () {
  "use strict";

  var TABLES = {
    contact: { key: "contactid", primaryName: "fullname", columns: ["contactid", "fullname", "mobilephone", "telephone1", "telephone2"],
               phones: ["mobilephone", "telephone1", "telephone2"], rows: [] },
    account: { key: "accountid", primaryName: "name", columns: ["accountid", "name", "telephone1", "telephone2"],
               phones: ["telephone1", "telephone2"], rows: [] },
  };
  var MAX_TOP = 5000; // Dataverse returns at most 5,000 rows a page
  var MAX_QUERY = 32768; // a GET URL longer than this is refused by Dataverse's front end

  function QueryError(message) { this.message = message; }

  function load(name, url) {
    return fetch(url, { cache: "no-cache" })
      .then(function (r) { if (!r.ok) throw new Error(url + ": HTTP " + r.status); return r.json(); })
      .then(function (rows) { TABLES[name].rows = rows; });
  }
  var ready = Promise.all([load("contact", "/cifhost/static/contacts.json"), load("account", "/cifhost/static/accounts.json")]);

  function table(entity) {
    if (typeof entity !== "string" || !Object.prototype.hasOwnProperty.call(TABLES, entity.toLowerCase())) {
      throw new QueryError("entity " + JSON.stringify(entity) + " is not in the local host's tables (contact, account)");
    }
    return TABLES[entity.toLowerCase()];
  }

  function column(t, entity, name) {
    if (t.columns.indexOf(name) < 0) {
      throw new QueryError("Could not find a property named '" + name + "' on type 'Microsoft.Dynamics.CRM." + entity + "'.");
    }
    return name;
  }

  /** The query options of "?$select=…&$filter=…", each URL-decoded once. */
  function options(query) {
    var found = {};
    query.replace(/^\?/, "").split("&").forEach(function (part) {
      if (!part) return;
      var eq = part.indexOf("=");
      var key, value;
      try {
        key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
        value = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
      } catch (e) {
        throw new QueryError("the query is not valid URL encoding");
      }
      if (["$select", "$filter", "$top", "$search"].indexOf(key) < 0) {
        throw new QueryError("The query parameter " + key + " is not supported");
      }
      if (Object.prototype.hasOwnProperty.call(found, key)) throw new QueryError("Query option '" + key + "' was specified more than once");
      found[key] = value;
    });
    return found;
  }

  // --- $filter -----------------------------------------------------------------------------

  function tokens(text) {
    var out = [], i = 0;
    while (i < text.length) {
      var ch = text[i];
      if (/\s/.test(ch)) { i += 1; continue; }
      if (ch === "(" || ch === ")" || ch === ",") { out.push({ kind: ch }); i += 1; continue; }
      if (ch === "'") {
        var value = "";
        i += 1;
        for (;;) {
          if (i >= text.length) throw new QueryError("Syntax error: unterminated string literal in $filter");
          if (text[i] === "'") {
            if (text[i + 1] === "'") { value += "'"; i += 2; continue; }
            i += 1;
            break;
          }
          value += text[i];
          i += 1;
        }
        out.push({ kind: "string", value: value });
        continue;
      }
      var word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
      if (!word) throw new QueryError("Syntax error at position " + i + " in $filter");
      out.push({ kind: "word", value: word[0] });
      i += word[0].length;
    }
    return out;
  }

  /** SQL LIKE → a RegExp: % any run, _ one character, [set] / [^set] one of / none of. */
  function likePattern(text) {
    var out = "", i = 0;
    while (i < text.length) {
      var ch = text[i];
      if (ch === "%") out += "[\\s\\S]*";
      else if (ch === "_") out += "[\\s\\S]";
      else if (ch === "[") {
        var end = text.indexOf("]", i + 2);
        if (end < 0) { out += "\\["; i += 1; continue; }
        var set = text.slice(i + 1, end);
        var negate = set[0] === "^" && set.length > 1;
        if (negate) set = set.slice(1);
        out += "[" + (negate ? "^" : "") + set.replace(/[\\\]]/g, "\\$&") + "]";
        i = end + 1;
        continue;
      } else out += ch.replace(/[.*+?^${}()|\\\/]/g, "\\$&");
      i += 1;
    }
    return out;
  }

  var FUNCTIONS = {
    contains: function (p) { return "^[\\s\\S]*" + p + "[\\s\\S]*$"; },
    startswith: function (p) { return "^" + p + "[\\s\\S]*$"; },
    endswith: function (p) { return "^[\\s\\S]*" + p + "$"; },
  };

  /** $filter text → a predicate over a row. */
  function parseFilter(text, t, entity) {
    var list = tokens(text), pos = 0;
    function peek() { return list[pos]; }
    function word(value) {
      var tok = peek();
      return tok && tok.kind === "word" && tok.value.toLowerCase() === value;
    }
    function expect(kind) {
      var tok = list[pos];
      if (!tok || tok.kind !== kind) throw new QueryError("Syntax error: expected '" + kind + "' in $filter");
      pos += 1;
      return tok;
    }
    function orExpr() {
      var left = andExpr();
      while (word("or")) { pos += 1; left = (function (a, b) { return function (r) { return a(r) || b(r); }; })(left, andExpr()); }
      return left;
    }
    function andExpr() {
      var left = unary();
      while (word("and")) { pos += 1; left = (function (a, b) { return function (r) { return a(r) && b(r); }; })(left, unary()); }
      return left;
    }
    function unary() {
      if (word("not")) { pos += 1; var inner = unary(); return function (r) { return !inner(r); }; }
      var tok = peek();
      if (tok && tok.kind === "(") { pos += 1; var e = orExpr(); expect(")"); return e; }
      var name = expect("word").value;
      if (Object.prototype.hasOwnProperty.call(FUNCTIONS, name.toLowerCase()) && peek() && peek().kind === "(") {
        pos += 1;
        var col = column(t, entity, expect("word").value);
        expect(",");
        var needle = expect("string").value;
        expect(")");
        var re = new RegExp(FUNCTIONS[name.toLowerCase()](likePattern(needle)), "i");
        return function (r) { return typeof r[col] === "string" && re.test(r[col]); };
      }
      var field = column(t, entity, name);
      var op = expect("word").value.toLowerCase();
      if (op !== "eq" && op !== "ne") throw new QueryError("the local host supports only eq and ne comparisons, not '" + op + "'");
      var value = peek();
      if (value && value.kind === "word" && value.value === "null") {
        pos += 1;
        return op === "eq" ? function (r) { return r[field] === null || r[field] === undefined; }
                           : function (r) { return r[field] !== null && r[field] !== undefined; };
      }
      var literal = expect("string").value.toLowerCase();
      return function (r) {
        if (typeof r[field] !== "string") return false; // SQL: NULL compares to nothing
        return (r[field].toLowerCase() === literal) === (op === "eq");
      };
    }
    var predicate = orExpr();
    if (pos !== list.length) throw new QueryError("Syntax error at '" + (list[pos].value || list[pos].kind) + "' in $filter");
    return predicate;
  }

  // --- the API -------------------------------------------------------------------------------

  function project(row, t, select) {
    var out = {};
    out[t.key] = row[t.key];
    select.forEach(function (c) { out[c] = row[c] === undefined ? null : row[c]; });
    return out;
  }

  /** Rows of `entity` for a searchAndOpenRecords query: {records: [...], search: text | null}. */
  function query(entity, queryString) {
    if (typeof queryString !== "string") throw new QueryError("the query must be a string");
    if (queryString.length > MAX_QUERY) throw new QueryError("the query is longer than " + MAX_QUERY + " characters");
    var t = table(entity);
    entity = entity.toLowerCase();
    var o = options(queryString);
    var select = o.$select === undefined ? t.columns.slice()
      : o.$select.split(",").map(function (c) { return column(t, entity, c.trim()); });
    var keep = o.$filter === undefined ? function () { return true; } : parseFilter(o.$filter, t, entity);
    var top = MAX_TOP;
    if (o.$top !== undefined) {
      if (!/^[0-9]+$/.test(o.$top) || Number(o.$top) < 1 || Number(o.$top) > MAX_TOP) {
        throw new QueryError("$top must be a whole number from 1 to " + MAX_TOP);
      }
      top = Number(o.$top);
    }
    var rows = t.rows.filter(keep).slice(0, top).map(function (r) { return project(r, t, select); });
    return { records: rows, search: o.$search === undefined ? null : o.$search };
  }

  /** The search page's results: rows whose name or phone columns begin with `text`, as a
   *  categorized (Quick Find) search finds them; a * in the text is a wildcard. */
  function quickFind(text, entities) {
    var needle = String(text || "").trim();
    if (!needle) return [];
    var re = new RegExp("^" + needle.split("*").map(function (s) { return s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&"); })
      .join("[\\s\\S]*"), "i");
    var found = [];
    (entities || Object.keys(TABLES)).forEach(function (entity) {
      var t = TABLES[entity];
      t.rows.forEach(function (row) {
        var hit = [t.primaryName].concat(t.phones).some(function (c) { return typeof row[c] === "string" && re.test(row[c]); });
        if (hit) found.push({ entity: entity, id: row[t.key], name: row[t.primaryName], row: row });
      });
    });
    return found;
  }

  window.LocalDataverse = { ready: ready, tables: TABLES, query: query, quickFind: quickFind, QueryError: QueryError };
})();
