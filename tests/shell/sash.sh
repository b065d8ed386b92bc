-echo start
./bb echo "an external command"
-mkdir made
-ls made
./bb seq 1 3 > three
-cat three
-rm three
-rmdir made
./bb sh -c "exit 3"
-echo end
