// Loaded first: records every Content-Security-Policy violation the page reports.
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.cspViolations.push({ directive: event.violatedDirective, blocked: event.blockedURI, sample: event.sample });
});
