# jobwarden_embed_sql(OUT header NAMESPACE ns FILES a.sql b.sql ...)
# Generates a header that holds each file as a std::string_view constant named
# after the file (001_init.sql -> k001Init), so SQL lives in .sql files and is
# compiled into the binary, never assembled at run time.
function(jobwarden_embed_sql)
  cmake_parse_arguments(ARG "" "OUT;NAMESPACE" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${ARG_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${ARG_OUT} -DNS=${ARG_NAMESPACE} "-DFILES=${ARG_FILES}"
            -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSqlRun.cmake
    DEPENDS ${ARG_FILES} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSqlRun.cmake
    COMMENT "Embedding SQL into ${ARG_OUT}"
    VERBATIM)
endfunction()
