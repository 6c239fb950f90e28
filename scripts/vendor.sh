#!/usr/bin/env sh
# Copy the pinned front-end packages from node_modules into app/static/vendor.
# Run by `make assets` locally and by `npm run build` on the Heroku Node.js buildpack.
set -eu
VENDOR=app/static/vendor
rm -rf "$VENDOR" && mkdir -p "$VENDOR/htmx" "$VENDOR/pico" "$VENDOR/cropper" "$VENDOR/chartjs"
cp node_modules/htmx.org/dist/htmx.min.js "$VENDOR/htmx/"
cp node_modules/@picocss/pico/css/pico.min.css "$VENDOR/pico/"
cp node_modules/cropperjs/dist/cropper.min.js node_modules/cropperjs/dist/cropper.min.css "$VENDOR/cropper/"
cp node_modules/chart.js/dist/chart.umd.min.js "$VENDOR/chartjs/"
