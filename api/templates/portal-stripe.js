// portal-stripe.js drives Stripe.js on the billing portal (served only when Stripe is
// configured). Card data goes from Stripe's own fields straight to Stripe; this script only
// hands the resulting ids back to payorch, which verifies them with Stripe.
(function () {
  "use strict";
  function fail(form, msg) {
    var el = form.querySelector("#step-error");
    el.textContent = msg || "Something went wrong; nothing was saved or charged. Please try again.";
    el.hidden = false;
    var btn = form.querySelector("button[type=submit]");
    if (btn) { btn.disabled = false; }
    el.focus && el.focus();
  }
  var setup = document.getElementById("stripe-setup");
  if (setup) {
    var stripe = Stripe(setup.dataset.publishableKey);
    var elements = stripe.elements({ clientSecret: setup.dataset.clientSecret });
    elements.create("payment").mount("#payment-element");
    setup.addEventListener("submit", function (ev) {
      if (setup.elements.payment_method.value) { return; }
      ev.preventDefault();
      setup.querySelector("button[type=submit]").disabled = true;
      stripe.confirmSetup({ elements: elements, redirect: "if_required" }).then(function (r) {
        if (r.error) { fail(setup, r.error.message); return; }
        var pm = r.setupIntent.payment_method;
        setup.elements.payment_method.value = typeof pm === "string" ? pm : pm.id;
        setup.submit();
      });
    });
  }
  var auth = document.getElementById("stripe-auth");
  if (auth) {
    var stripe2 = Stripe(auth.dataset.publishableKey);
    var done = false;
    auth.addEventListener("submit", function (ev) {
      if (done) { return; }
      ev.preventDefault();
      auth.querySelector("button[type=submit]").disabled = true;
      // confirmCardPayment runs the 3-D Secure step of the saved card.
      stripe2.confirmCardPayment(auth.dataset.clientSecret).then(function (r) {
        if (r.error) { fail(auth, r.error.message); return; }
        done = true;
        auth.submit();
      });
    });
  }
})();
