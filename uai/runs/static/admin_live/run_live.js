/*
 * Live status of runs in the admin (no build step, no dependencies).
 *
 * A run's change page has one `.uai-live` panel; the run list has cells marked with
 * `data-uai-run`. While a run is active (its element carries `data-uai-active`), this polls the
 * admin's own staff-only JSON views about once a second and stops once the run has ended.
 * Everything from the server is written with textContent, never as HTML.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var RETRY_MS = 5000; // after a network or server error
  var MAX_LOG_LINES = 50; // the page keeps the newest lines, as the live view sends them

  function percent(value) {
    return Math.round(Number(value) || 0) + "%";
  }

  function time(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "" : date.toISOString().substring(11, 19);
  }

  function setHidden(element, empty) {
    // In the panel, an empty question hides its whole line (its parent); others hide themselves.
    var target = element.dataset.uaiField === "input_prompt" ? element.parentElement : element;
    target.hidden = empty;
  }

  function render(elements, data) {
    elements.forEach(function (element) {
      switch (element.dataset.uaiField) {
        case "status":
          element.textContent = data.status;
          break;
        case "progress":
          element.value = Number(data.progress) || 0;
          element.textContent = percent(data.progress);
          break;
        case "progress_text":
          element.textContent = percent(data.progress);
          break;
        case "current_step":
          element.textContent = data.current_step || "";
          break;
        case "latest_log":
          element.textContent = data.latest_log || "";
          break;
        case "input_prompt":
          element.textContent = data.input_prompt || "";
          setHidden(element, !data.input_prompt);
          break;
        case "error":
          element.textContent = data.error || "";
          setHidden(element, !data.error);
          break;
        case "output":
          var empty = data.output === null || data.output === undefined;
          element.textContent = empty ? "" : JSON.stringify(data.output, null, 2);
          setHidden(element, empty);
          break;
        default:
          break;
      }
    });
  }

  function appendLogs(list, logs) {
    logs.forEach(function (log) {
      var item = document.createElement("li");
      item.className = "uai-log-" + String(log.level).replace(/[^a-z]/g, "");
      var stamp = document.createElement("time");
      stamp.textContent = time(log.created_at);
      var level = document.createElement("b");
      level.textContent = log.level;
      item.append(stamp, " ", level, " ", log.message);
      list.appendChild(item);
    });
    while (list.children.length > MAX_LOG_LINES) {
      list.removeChild(list.firstElementChild);
    }
  }

  function getJSON(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        var error = new Error("HTTP " + response.status);
        error.status = response.status;
        throw error;
      }
      return response.json();
    });
  }

  // Gone, forbidden or a bad request will not heal by asking again; anything else may.
  function retryLater(error, again) {
    if (error.status && error.status >= 400 && error.status < 500) {
      return;
    }
    window.setTimeout(again, RETRY_MS);
  }

  function followPanel(panel) {
    var url = panel.dataset.uaiLiveUrl;
    var after = panel.dataset.uaiAfter || "0";
    var fields = Array.prototype.slice.call(panel.querySelectorAll("[data-uai-field]"));
    var logs = panel.querySelector('[data-uai-field="logs"]');

    function poll() {
      getJSON(url + "?after=" + encodeURIComponent(after))
        .then(function (data) {
          render(fields, data);
          if (logs && data.logs) {
            appendLogs(logs, data.logs);
          }
          after = String(data.last_seq);
          if (data.terminal) {
            panel.removeAttribute("data-uai-active");
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function (error) {
          retryLater(error, poll);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  function followList(cells) {
    var url = cells[0].dataset.uaiLiveUrl;
    var active = {};
    cells.forEach(function (cell) {
      active[cell.dataset.uaiRun] = true;
    });

    function poll() {
      var ids = Object.keys(active);
      if (!ids.length) {
        return;
      }
      var query = ids
        .map(function (id) {
          return "id=" + encodeURIComponent(id);
        })
        .join("&");
      getJSON(url + "?" + query)
        .then(function (data) {
          ids.forEach(function (id) {
            var run = data.runs[id];
            var elements = document.querySelectorAll('[data-uai-run="' + CSS.escape(id) + '"]');
            if (!run) {
              delete active[id]; // deleted meanwhile
              return;
            }
            render(Array.prototype.slice.call(elements), run);
            if (run.terminal) {
              delete active[id];
              elements.forEach(function (element) {
                element.removeAttribute("data-uai-active");
              });
            }
          });
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function (error) {
          retryLater(error, poll);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  function start() {
    document.querySelectorAll(".uai-live[data-uai-active][data-uai-live-url]").forEach(followPanel);
    var cells = Array.prototype.slice.call(
      document.querySelectorAll('[data-uai-run][data-uai-field="status"][data-uai-active]')
    );
    if (cells.length) {
      followList(cells);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
