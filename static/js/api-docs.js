// The API's documentation page: Swagger UI (vendored, static/vendor/swagger-ui/) over
// the OpenAPI document. "Authorize" takes a personal API token; it stays in this tab.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: null, // never send the document to swagger.io's validator
  });
})();
