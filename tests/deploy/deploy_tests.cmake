# Checks of deploy/: include(${CMAKE_SOURCE_DIR}/tests/deploy/deploy_tests.cmake) from
# tests/CMakeLists.txt. Each script prints "N passed, M failed" and exits non-zero on a
# failure. They need promtool (Debian package prometheus), node and npm; the first run
# installs the pinned npm packages into tests/deploy/node_modules (npm ci), later runs
# are offline. Run them alone with: ctest -L deploy
#
#   deploy_rules      promtool check/test rules, rule lint, scrape configs, PrometheusRule
#   deploy_dashboard  dashboard queries through promtool, @grafana/schema type check
#   deploy_k8s        manifests vs. kubernetes-models schemas and types, kustomize builds
#   deploy_compose    docker-compose.yml vs. the compose spec, wiring, config check
#   deploy_systemd    unit hardening, systemd-analyze verify/security
#   deploy_container  deploy/container-test.sh: podman build + run (slow; only with
#                     -DYFE_CONTAINER_TEST=ON)
option(YFE_CONTAINER_TEST "Also run deploy/container-test.sh (podman image build, slow) in ctest" OFF)

set(_yfe_deploy_env "")
if(TARGET yunxiao-flow-exporter)
  # Lets the checks run the exporter's own --config.check on the shipped configs.
  set(_yfe_deploy_env "YFE_EXPORTER_BIN=$<TARGET_FILE:yunxiao-flow-exporter>")
endif()

foreach(_yfe_check IN ITEMS rules dashboard k8s compose systemd)
  add_test(NAME deploy_${_yfe_check}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/deploy/check-${_yfe_check}.sh
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(deploy_${_yfe_check} PROPERTIES
    LABELS deploy
    COST 100  # long (node, promtool): started first in a run without recorded timings
    TIMEOUT 600)
  if(_yfe_deploy_env)
    set_tests_properties(deploy_${_yfe_check} PROPERTIES ENVIRONMENT "${_yfe_deploy_env}")
  endif()
endforeach()

if(YFE_CONTAINER_TEST)
  add_test(NAME deploy_container
           COMMAND bash ${CMAKE_SOURCE_DIR}/deploy/container-test.sh
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(deploy_container PROPERTIES LABELS "deploy;container" TIMEOUT 3600
    RUN_SERIAL TRUE)
endif()
