// httpsd demo: proves the script was fetched and ran (the browser test checks this).
document.addEventListener('DOMContentLoaded', () => {
  const status = document.getElementById('js-status');
  status.textContent = 'JavaScript ran: script.js was served by httpsd.';
  status.classList.add('ran');
  document.body.dataset.scriptRan = 'yes';
  const video = document.querySelector('video');
  video.addEventListener('loadedmetadata', () => {
    document.getElementById('video-status').textContent =
      `video loaded: ${video.videoWidth}x${video.videoHeight}, ${video.duration.toFixed(1)} s`;
  });
});
