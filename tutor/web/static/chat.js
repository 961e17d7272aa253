// The learner's chat page: posts messages to the inbox and polls for the tutor's replies.
(() => {
  "use strict";
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  let lastId = 0;
  let polling = false;
  let pollAgain = false;

  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) +
    Math.random().toString(16).slice(2)).replace(/[^A-Za-z0-9]/g, "").slice(0, 32);

  function bubble(who, text, options) {
    const item = document.createElement("li");
    item.className = `bubble ${who}`;
    item.textContent = text;
    if (options && options.length) {
      const box = document.createElement("div");
      box.className = "options";
      options.forEach((option, index) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `${index + 1}. ${option.label}`;
        button.addEventListener("click", () => send({ button: option.key }, `${index + 1}`));
        box.appendChild(button);
      });
      item.appendChild(box);
    }
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  async function send(body, shown) {
    bubble("learner", shown);
    status.textContent = "typing…";
    try {
      const response = await fetch("/chat/api/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ id: newId(), ...body }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      status.textContent = "Could not send; check the connection and try again.";
      return;
    }
    poll(20);
  }

  async function fetchReplies() {
    const response = await fetch(`/chat/api/messages?after=${lastId}`);
    if (!response.ok) return 0;
    const data = await response.json();
    let shown = 0;
    for (const message of data.messages) {
      if (message.id <= lastId) continue; // an overlapping fetch has shown it already
      bubble("tutor", message.text, message.options);
      lastId = message.id;
      shown++;
    }
    return shown;
  }

  async function poll(rounds) {
    if (polling) {
      // Sent while an earlier poll winds down: that poll must go round again for this reply.
      pollAgain = true;
      return;
    }
    polling = true;
    try {
      do {
        pollAgain = false;
        for (let round = 0; round < rounds; round++) {
          const got = await fetchReplies();
          if (got) { status.textContent = "online"; break; }
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        // Replies can come in several messages: collect stragglers for a moment.
        for (let round = 0; round < 3; round++) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          await fetchReplies();
        }
      } while (pollAgain);
    } finally {
      polling = false;
      status.textContent = "online";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ text }, text);
  });

  fetchReplies().then(() => input.focus());
})();
