// A checkbox with data-select-all="NAME" ticks every checkbox NAME of its form.
document.addEventListener("change", (event) => {
  const box = event.target;
  const name = box.dataset && box.dataset.selectAll;
  if (!name || !box.form) return;
  box.form.querySelectorAll(`input[name="${name}"]`).forEach((c) => { c.checked = box.checked; });
});
