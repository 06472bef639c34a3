/*
 * The visual timeline: draws the entries matching the page's filters with vis-timeline.
 * Its data is fetched from the address in the canvas's data-src (the page's filters,
 * as JSON), after the page has shown its list; without JavaScript, or if that request
 * fails, the list below it is the whole timeline.
 */
(function () {
  "use strict";

  function entryElement(item) {
    // Built as DOM nodes, never as HTML strings: titles are data, not markup.
    var link = document.createElement("a");
    link.href = item.url;
    link.className = "visual__link";
    link.textContent = item.title;
    link.title = item.date + ": " + item.title + (item.claimedBy ? " (claim by " + item.claimedBy + ")" : "");
    if (item.claimedBy) {
      var label = document.createElement("span");
      label.className = "visual__claim";
      label.textContent = "Claim: ";
      link.insertBefore(label, link.firstChild);
    }
    return link;
  }

  function recordWindow(container, range) {
    container.setAttribute("data-window-start", range.start.toISOString());
    container.setAttribute("data-window-end", range.end.toISOString());
  }

  function paddedWindow(raw) {
    // All entries in view, with room on the right for the labels of the last points.
    var first = Infinity;
    var last = -Infinity;
    raw.forEach(function (item) {
      first = Math.min(first, Date.parse(item.start));
      last = Math.max(last, Date.parse(item.end || item.start));
    });
    var span = Math.max(last - first, 1000 * 60 * 60 * 24 * 30);
    return { start: new Date(first - span * 0.03), end: new Date(last + span * 0.2) };
  }

  function draw(container, raw) {
    var items = raw.map(function (item) {
      var entry = {
        id: item.id,
        start: item.start,
        type: item.type,
        content: entryElement(item),
        className: "visual__item visual__item--" + item.kind + (item.claimedBy ? " visual__item--claim" : "")
      };
      if (item.end) {
        entry.end = item.end;
      }
      return entry;
    });
    container.classList.add("visual__canvas--live");
    var window_ = paddedWindow(raw);
    var timeline = new window.vis.Timeline(container, new window.vis.DataSet(items), {
      stack: true,
      zoomable: true,
      moveable: true,
      zoomKey: "",
      // The wheel zooms (as the hint above the timeline says); zooming in unstacks
      // crowded periods, so the height is capped rather than scrolled.
      horizontalScroll: false,
      verticalScroll: false,
      maxHeight: 560,
      minHeight: 160,
      zoomMin: 1000 * 60 * 60 * 24 * 3,
      selectable: false,
      showCurrentTime: false,
      margin: { item: { horizontal: 4, vertical: 6 } },
      tooltip: { followMouse: false },
      // The padded window is set once the first drawing is done: given as the
      // start and end options, vis may keep its loading screen over the items.
      onInitialDrawComplete: function () {
        timeline.setWindow(window_.start, window_.end, { animation: false });
        recordWindow(container, timeline.getWindow());
        container.setAttribute("aria-busy", "false");
        container.setAttribute("data-ready", "true");
      }
    });
    timeline.on("rangechanged", function (props) {
      recordWindow(container, props);
    });
  }

  function fail(container) {
    // Said in place of the drawing; the list below is unaffected.
    var message = document.createElement("p");
    message.className = "visual__failed";
    message.textContent = "The visual timeline could not be loaded. Every entry is in the list below.";
    container.parentNode.replaceChild(message, container);
  }

  function init() {
    var container = document.getElementById("visual-timeline");
    if (!container || !window.vis || !window.vis.Timeline || !window.fetch) {
      return;
    }
    window.fetch(container.getAttribute("data-src"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.items.length) {
          draw(container, data.items);
        } else {  // the record changed between the page and this request: nothing to draw
          container.parentNode.hidden = true;
        }
      })
      .catch(function () {
        fail(container);
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
