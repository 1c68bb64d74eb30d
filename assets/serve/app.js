// Placeholder: lists the shipped scenarios from the JSON API.
fetch('/api/scenarios')
  .then((r) => r.json())
  .then((list) => {
    document.getElementById('status').textContent = list.length + ' scenarios';
  });
